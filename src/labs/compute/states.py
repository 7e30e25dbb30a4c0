"""Server states as Nova names them, and the status a client sees."""

from __future__ import annotations

# vm_state
ACTIVE = "active"
BUILDING = "building"
STOPPED = "stopped"
ERROR = "error"
DELETED = "deleted"
RESIZED = "resized"  # moved or resized, waiting to be confirmed or reverted

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
RESIZE_PREP = "resize_prep"
RESIZE_MIGRATING = "resize_migrating"
RESIZE_MIGRATED = "resize_migrated"
RESIZE_FINISH = "resize_finish"
RESIZE_REVERTING = "resize_reverting"
#: The task states of a resize or cold migration under way (status RESIZE).
RESIZING = (RESIZE_PREP, RESIZE_MIGRATING, RESIZE_MIGRATED, RESIZE_FINISH)

# power_state (Nova's numbers)
NOSTATE = 0
RUNNING = 1
SHUTDOWN = 4

_MOVING = {task: "RESIZE" for task in RESIZING}
_STATUS: dict[str, tuple[str, dict[str, str]]] = {
    ACTIVE: ("ACTIVE", {REBOOTING: "REBOOT", REBOOTING_HARD: "HARD_REBOOT",
                        REBUILDING: "REBUILD", **_MOVING}),
    BUILDING: ("BUILD", {}),
    STOPPED: ("SHUTOFF", {REBUILDING: "REBUILD", **_MOVING}),
    RESIZED: ("VERIFY_RESIZE", {RESIZE_REVERTING: "REVERT_RESIZE"}),
    ERROR: ("ERROR", {REBUILDING: "REBUILD"}),
    DELETED: ("DELETED", {}),
}

#: Every status a server list may be filtered by.
STATUSES = frozenset({"ACTIVE", "BUILD", "SHUTOFF", "ERROR", "DELETED", "REBOOT",
                      "HARD_REBOOT", "REBUILD", "UNKNOWN", "RESIZE", "VERIFY_RESIZE",
                      "REVERT_RESIZE"})


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
    "resize": frozenset({ACTIVE, STOPPED}),
    "migrate": frozenset({ACTIVE, STOPPED}),
    "confirmResize": frozenset({RESIZED}),
    "revertResize": frozenset({RESIZED}),
}
#: Task states a hard reboot may interrupt (a stuck soft reboot, say).
HARD_REBOOT_OVER = frozenset({REBOOTING, REBOOTING_HARD, POWERING_ON, POWERING_OFF})
