"""What the fake driver's guests print on their console, and its atomic file writes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def console_lines(instance_id: str, rec: Mapping[str, Any]) -> list[str]:
    """Deterministic boot lines, and a line for each power event."""
    lines: list[str] = []

    def say(text: str) -> None:
        lines.append(f"[{len(lines):6d}.000000] {text}")

    for event in rec["events"]:
        if event in ("pause", "unpause"):
            continue  # a frozen guest says nothing
        if event == "power_off":
            say(f"fake: {rec['hostname']}: power off")
            continue
        if event == "nmi":
            say("Uhhuh. NMI received for unknown reason 00 on CPU 0.")
            continue
        if event.startswith("reboot:"):
            say(f"fake: {rec['hostname']}: reboot ({event.partition(':')[2]})")
        elif event == "power_on":
            say(f"fake: {rec['hostname']}: power on")
        say(f"fake: booting instance {rec['name']} ({instance_id})")
        say(f"fake: {rec['vcpus']} vcpus, {rec['memory_mb']} MiB memory, image "
            f"{rec['image_id']}")
        say(f"fake: hostname {rec['hostname']}")
        say(f"{rec['hostname']} login:")
    return lines


def write_atomic(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all: a temporary file beside it, then os.replace."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
