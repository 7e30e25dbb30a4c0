"""bench/boot.py's baseline: the same kernel and initramfs under bare qemu.

The qemu driver boots the Labs image's own kernel directly (``-kernel``, ``-initrd``,
``-append``; see labs.compute.virt.qemu_boot), from the files its image cache took out of
the image (``<agent state>/images/<image id>/boot/``, named in ``info.json``). Here qemu
runs those same files with the driver's machine, memory and accelerator, and nothing
else: no disk, network, config drive or QMP, no Labs. The time is from starting qemu to
the first line the guest's userspace prints on its serial console, the first-boot
program's ``labs: [<uptime>] first boot``.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from pathlib import Path

from labs.compute.virt.qemu_boot import BootFiles

FIRST_LINE = b"labs: ["
WAIT_S = 120.0


def cached_boot_files(agent_state: Path, image_id: str) -> BootFiles:
    """The kernel, initramfs and command line the driver boots `image_id` with."""
    entry = agent_state / "images" / image_id
    boot = json.loads((entry / "info.json").read_text())["boot"]
    if not boot:
        raise RuntimeError(f"image {image_id} boots from its disk: no kernel to boot bare")
    return BootFiles(entry / boot["kernel"], entry / boot["initrd"], boot["cmdline"])


def bare_command(boot: BootFiles, console: Path, memory_mb: int, accel: str,
                 binary: str = "qemu-system-x86_64") -> list[str]:
    # The driver's accelerator options (labs.compute.virt.qemu_process.command_line).
    accel_option = "tcg,tb-size=16" if accel == "tcg" else accel
    return [binary, "-accel", accel_option, "-machine", "pc", "-m", str(memory_mb),
            "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none", "-vga", "none",
            "-serial", f"file:{console}", "-kernel", str(boot.kernel),
            "-initrd", str(boot.initrd), "-append", boot.cmdline]


def bare_boot(boot: BootFiles, work: Path, memory_mb: int = 128,
              accel: str = "tcg") -> tuple[float, float | None]:
    """Boot once: (seconds from starting qemu to the guest's first userspace line, the
    guest's uptime that line gives)."""
    console = work / "bare-console.log"
    console.unlink(missing_ok=True)
    log = work / "bare-qemu.log"
    began = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(bare_command(boot, console, memory_mb, accel),
                                stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        while time.perf_counter() - began < WAIT_S:
            with contextlib.suppress(FileNotFoundError):
                text = console.read_bytes()
                at = text.find(FIRST_LINE)
                if at >= 0:
                    elapsed = time.perf_counter() - began
                    return elapsed, _uptime(text[at + len(FIRST_LINE):])
            if proc.poll() is not None:
                raise RuntimeError(f"bare qemu exited ({proc.returncode}): "
                                   f"{log.read_text(errors='replace')[-500:]}")
            time.sleep(0.01)
        raise RuntimeError(f"no line from the guest's userspace within {WAIT_S:.0f} s")
    finally:
        proc.kill()
        proc.wait(timeout=30)


def _uptime(rest: bytes) -> float | None:
    try:
        return float(rest.split(b"]", 1)[0])
    except ValueError:
        return None  # the line is not whole yet
