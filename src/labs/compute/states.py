"""Server states as Nova names them, and the status a client sees."""

from __future__ import annotations

# vm_state
ACTIVE = "active"
BUILDING = "building"
STOPPED = "stopped"
ERROR = "error"
DELETED = "deleted"

# task_state
SCHEDULING = "scheduling"
SPAWNING = "spawning"
REBOOTING = "rebooting"
REBOOTING_HARD = "rebooting_hard"
POWERING_OFF = "powering-off"
POWERING_ON = "powering-on"
REBUILDING = "rebuilding"
IMAGE_SNAPSHOT = "image_snapshot"
DELETING = "deleting"
MIGRATING = "migrating"

# power_state (Nova's numbers)
NOSTATE = 0
RUNNING = 1
SHUTDOWN = 4

_STATUS: dict[str, tuple[str, dict[str, str]]] = {
    ACTIVE: ("ACTIVE", {REBOOTING: "REBOOT", REBOOTING_HARD: "HARD_REBOOT",
                        REBUILDING: "REBUILD", MIGRATING: "MIGRATING"}),
    BUILDING: ("BUILD", {}),
    STOPPED: ("SHUTOFF", {REBUILDING: "REBUILD"}),
    ERROR: ("ERROR", {REBUILDING: "REBUILD"}),
    DELETED: ("DELETED", {}),
}

#: Every status a server list may be filtered by.
STATUSES = frozenset({"ACTIVE", "BUILD", "SHUTOFF", "ERROR", "DELETED", "REBOOT",
                      "HARD_REBOOT", "REBUILD", "MIGRATING", "UNKNOWN"})


def status_of(vm_state: str, task_state: str | None) -> str:
    default, by_task = _STATUS.get(vm_state, ("UNKNOWN", {}))
    return by_task.get(task_state or "", default)


#: What each action needs: the vm_states it may start from (any task_state must be
#: None unless listed), as Nova's ``check_instance_state``.
ALLOWED: dict[str, frozenset[str]] = {
    "reboot": frozenset({ACTIVE}),
    "reboot_hard": frozenset({ACTIVE, STOPPED, ERROR}),
    "stop": frozenset({ACTIVE, ERROR}),
    "start": frozenset({STOPPED}),
    "rebuild": frozenset({ACTIVE, STOPPED, ERROR}),
    "createImage": frozenset({ACTIVE, STOPPED}),
    "console": frozenset({ACTIVE, STOPPED, ERROR}),
    "os-migrateLive": frozenset({ACTIVE}),
}
#: Task states a hard reboot may interrupt (a stuck soft reboot, say).
HARD_REBOOT_OVER = frozenset({REBOOTING, REBOOTING_HARD, POWERING_ON, POWERING_OFF})
