"""What an agent reports of its host: the driver's resources, within the operator's limits.

``[agent] memory_mb`` caps the memory the host offers (0: all of it); the reserve
(``[agent] reserved_host_memory_mb``) is what the host keeps for itself, and the
scheduler never places instances into it. Both travel with every report, so the
scheduler counts them with the overhead the driver measured.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from labs.compute.virt.base import VirtDriver, VirtError

log = logging.getLogger("labs.compute.agent.resources")


def host_report(driver: VirtDriver, reserved_memory_mb: int = 0,
                memory_cap_mb: int = 0) -> dict[str, Any]:
    """The driver's host resources as sent to the conductor (register and heartbeat)."""
    if reserved_memory_mb < 0 or memory_cap_mb < 0:
        raise ValueError("the memory reserve and cap cannot be negative")
    report = asdict(driver.host_resources())
    if memory_cap_mb:
        report["memory_mb"] = min(int(report["memory_mb"]), memory_cap_mb)
        if report["memory_available_mb"] is not None:
            report["memory_available_mb"] = min(int(report["memory_available_mb"]),
                                                memory_cap_mb)
    report["reserved_memory_mb"] = reserved_memory_mb
    return report


def heartbeat_report(driver: VirtDriver, reserved_memory_mb: int = 0,
                     memory_cap_mb: int = 0) -> dict[str, Any] | None:
    """`host_report`, or None (a bare heartbeat) when the driver cannot tell now."""
    try:
        return host_report(driver, reserved_memory_mb, memory_cap_mb)
    except (VirtError, OSError) as exc:
        log.warning("host resources not measured: %s", exc)
        return None
