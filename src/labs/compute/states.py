"""Server states as Nova names them, and the status a client sees."""

from __future__ import annotations

# vm_state
ACTIVE = "active"
BUILDING = "building"
STOPPED = "stopped"
ERROR = "error"
DELETED = "deleted"
SHELVED = "shelved"
SHELVED_OFFLOADED = "shelved_offloaded"

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
SHELVING = "shelving"
SHELVING_OFFLOADING = "shelving_offloading"
UNSHELVING = "unshelving"
IMAGE_BACKUP = "image_backup"

# power_state (Nova's numbers)
NOSTATE = 0
RUNNING = 1
SHUTDOWN = 4

_STATUS: dict[str, tuple[str, dict[str, str]]] = {
    ACTIVE: ("ACTIVE", {REBOOTING: "REBOOT", REBOOTING_HARD: "HARD_REBOOT",
                        REBUILDING: "REBUILD"}),
    BUILDING: ("BUILD", {}),
    STOPPED: ("SHUTOFF", {REBUILDING: "REBUILD"}),
    ERROR: ("ERROR", {REBUILDING: "REBUILD"}),
    DELETED: ("DELETED", {}),
    SHELVED: ("SHELVED", {}),
    SHELVED_OFFLOADED: ("SHELVED_OFFLOADED", {}),
}

#: Every status a server list may be filtered by.
STATUSES = frozenset({"ACTIVE", "BUILD", "SHUTOFF", "ERROR", "DELETED", "REBOOT",
                      "HARD_REBOOT", "REBUILD", "SHELVED",
                      "SHELVED_OFFLOADED", "UNKNOWN"})


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
    "shelve": frozenset({ACTIVE, STOPPED}),
    "shelveOffload": frozenset({SHELVED}),
    "unshelve": frozenset({SHELVED, SHELVED_OFFLOADED}),
    "createBackup": frozenset({ACTIVE, STOPPED}),
    "trigger_crash_dump": frozenset({ACTIVE, ERROR}),
}
#: Task states a hard reboot may interrupt (a stuck soft reboot, say).
HARD_REBOOT_OVER = frozenset({REBOOTING, REBOOTING_HARD, POWERING_ON, POWERING_OFF})
