"""Server states as Nova names them, and the status a client sees."""

from __future__ import annotations

# vm_state
ACTIVE = "active"
BUILDING = "building"
STOPPED = "stopped"
PAUSED = "paused"
ERROR = "error"
DELETED = "deleted"
SHELVED = "shelved"
SHELVED_OFFLOADED = "shelved_offloaded"
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
PAUSING = "pausing"
UNPAUSING = "unpausing"
MIGRATING = "migrating"
SHELVING = "shelving"
SHELVING_OFFLOADING = "shelving_offloading"
UNSHELVING = "unshelving"
IMAGE_BACKUP = "image_backup"
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

#: The status a client sees, by vm_state: the default, and those of some task_states
#: (Nova's ``_STATE_MAP``, for the states Labs has).
_MOVING = {task: "RESIZE" for task in RESIZING}
STATE_MAP: dict[str, tuple[str, dict[str, str]]] = {
    ACTIVE: ("ACTIVE", {REBOOTING: "REBOOT", REBOOTING_HARD: "HARD_REBOOT",
                        REBUILDING: "REBUILD", MIGRATING: "MIGRATING", **_MOVING}),
    BUILDING: ("BUILD", {}),
    STOPPED: ("SHUTOFF", {REBUILDING: "REBUILD", **_MOVING}),
    PAUSED: ("PAUSED", {}),
    RESIZED: ("VERIFY_RESIZE", {RESIZE_REVERTING: "REVERT_RESIZE"}),
    ERROR: ("ERROR", {REBUILDING: "REBUILD"}),
    DELETED: ("DELETED", {}),
    SHELVED: ("SHELVED", {}),
    SHELVED_OFFLOADED: ("SHELVED_OFFLOADED", {}),
}

#: Every status a server list may be filtered by.
STATUSES = frozenset({"ACTIVE", "BUILD", "SHUTOFF", "PAUSED", "ERROR", "DELETED", "REBOOT",
                      "HARD_REBOOT", "REBUILD", "MIGRATING", "SHELVED",
                      "SHELVED_OFFLOADED", "RESIZE", "VERIFY_RESIZE", "REVERT_RESIZE",
                      "UNKNOWN"})


def status_of(vm_state: str, task_state: str | None) -> str:
    default, by_task = STATE_MAP.get(vm_state, ("UNKNOWN", {}))
    return by_task.get(task_state or "", default)


def states_of_status(statuses: list[str]) -> tuple[set[str], set[str] | None]:
    """The vm_states and task_states a list filtered by ``statuses`` matches, as Nova's
    ``task_and_vm_state_from_status``: when a status is some vm_state's default, Nova
    filters on the vm_states alone (task_states None), so ``SHUTOFF`` is every stopped
    server, and a server still powering off (vm_state active) is not one."""
    wanted = {status.upper() for status in statuses}
    vm_states: set[str] = set()
    tasks: set[str] = set()
    default = False
    for vm_state, (shown, by_task) in STATE_MAP.items():
        if shown in wanted:
            vm_states.add(vm_state)
            default = True
        for task, task_shown in by_task.items():
            if task_shown in wanted:
                vm_states.add(vm_state)
                tasks.add(task)
    return vm_states, None if default else tasks


#: What each action needs: the vm_states it may start from (any task_state must be
#: None unless listed), as Nova's ``check_instance_state``.
ALLOWED: dict[str, frozenset[str]] = {
    "reboot": frozenset({ACTIVE}),
    "reboot_hard": frozenset({ACTIVE, STOPPED, PAUSED, ERROR}),
    "stop": frozenset({ACTIVE, ERROR}),
    "pause": frozenset({ACTIVE}),
    "unpause": frozenset({PAUSED}),
    "start": frozenset({STOPPED}),
    "rebuild": frozenset({ACTIVE, STOPPED, ERROR}),
    "createImage": frozenset({ACTIVE, STOPPED, PAUSED}),
    "console": frozenset({ACTIVE, STOPPED, PAUSED, ERROR}),
    "os-migrateLive": frozenset({ACTIVE, PAUSED}),
    "shelve": frozenset({ACTIVE, STOPPED}),
    "shelveOffload": frozenset({SHELVED}),
    "unshelve": frozenset({SHELVED, SHELVED_OFFLOADED}),
    "createBackup": frozenset({ACTIVE, STOPPED}),
    "trigger_crash_dump": frozenset({ACTIVE, ERROR}),
    "resize": frozenset({ACTIVE, STOPPED}),
    "migrate": frozenset({ACTIVE, STOPPED}),
    "confirmResize": frozenset({RESIZED}),
    "revertResize": frozenset({RESIZED}),
}
#: Task states a hard reboot may interrupt (a stuck soft reboot, say).
HARD_REBOOT_OVER = frozenset({REBOOTING, REBOOTING_HARD, POWERING_ON, POWERING_OFF})
