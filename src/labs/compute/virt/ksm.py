"""Kernel same-page merging (KSM) for the qemu driver's VMs.

qemu marks its guests' memory mergeable (``mem-merge``, on by default), so when the
kernel's KSM daemon runs, the identical pages of VMs booted from one image (the kernel's
code, the files of the initramfs, zeroed memory) are kept once. Measured under TCG with
four idle ``g1.nano`` VMs: 158 MB PSS each without, 79 MB with (see bench/README.md).

KSM is host-wide and off by default in most kernels. With ``[agent] ksm = auto`` the
agent turns it on when it may (root, a kernel built with KSM) and raises how many pages
the daemon scans per round to ``[agent] ksm_pages_to_scan`` (never lowers an operator's
higher setting); it says what it did in its log. ``off`` leaves the host's setting as it
is. The agent never turns KSM off: other programs may rely on it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

KSM_DIR = Path("/sys/kernel/mm/ksm")
MODES = ("auto", "off")


@dataclass(frozen=True)
class KsmState:
    """What KSM does now (the files of /sys/kernel/mm/ksm)."""

    run: int                # 0 stopped, 1 running, 2 stopped and everything unmerged
    pages_to_scan: int
    pages_shared: int       # distinct merged pages kept
    pages_sharing: int      # further pages that use them: what merging saved
    full_scans: int

    @property
    def saved_mb(self) -> float:
        return self.pages_sharing * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


def read_state(root: Path = KSM_DIR) -> KsmState | None:
    """KSM's state; None if this kernel has no KSM (or it cannot be read)."""
    try:
        return KsmState(**{name: int((root / name).read_text())
                           for name in KsmState.__dataclass_fields__})
    except (OSError, ValueError):
        return None


def turn_on(mode: str, pages_to_scan: int, root: Path = KSM_DIR) -> str:
    """Turn KSM on as `mode` asks, if it may; what it did, for the log."""
    if mode not in MODES:
        raise ValueError(f"[agent] ksm = {mode!r}: use auto or off")
    state = read_state(root)
    if mode == "off":
        return ("KSM left as the host has it ([agent] ksm = off): "
                + ("not in this kernel" if state is None else describe(state)))
    if state is None:
        return ("KSM is not in this kernel (CONFIG_KSM): identical pages of this host's VMs "
                "are not merged")
    if state.run == 1 and state.pages_to_scan >= pages_to_scan:
        return f"KSM already on: {describe(state)}"
    try:
        if state.pages_to_scan < pages_to_scan:
            (root / "pages_to_scan").write_text(f"{pages_to_scan}\n")
        if state.run != 1:
            (root / "run").write_text("1\n")
    except OSError as exc:
        return (f"KSM not turned on ({exc.strerror or exc}): identical pages of this host's "
                f"VMs are not merged; as root: echo 1 > {root / 'run'}")
    now = read_state(root) or state
    return (f"KSM turned on (pages_to_scan {state.pages_to_scan} -> {now.pages_to_scan}): "
            "identical pages of this host's VMs are merged")


def describe(state: KsmState) -> str:
    """One line for the log and `labs status`."""
    running = {0: "off", 1: "on", 2: "off (unmerged)"}.get(state.run, f"run={state.run}")
    return (f"{running}, {state.pages_to_scan} pages per scan, saving "
            f"{state.saved_mb:.0f} MB ({state.pages_sharing} pages sharing "
            f"{state.pages_shared})")
