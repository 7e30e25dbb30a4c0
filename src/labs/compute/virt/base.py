"""The virt driver interface: what a compute agent asks of the hypervisor on its host.

Every driver follows the same rules, checked by tests/compute/test_virt_contract.py:

- Failure: operations raise VirtError or a subclass, never a hypervisor's own exception. A
  failed spawn cleans up everything it made; other failures leave the instance as it was
  or in a state that `power_state` reports truthfully.
- Capabilities: `capabilities` names the optional operations the driver has (a subset of
  KNOWN_CAPABILITIES). Callers check it before using them; the base class's versions of
  the optional methods raise UnsupportedOperation.
- Threads: the agent calls one driver from several threads at once, but never two
  operations on the same instance at once (it holds a per-instance lock). A driver guards
  its host-wide state (accounting, state files) itself.
- Drivers import nothing database-related and never each other.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import ClassVar, Literal

#: Optional operations, by the name a driver lists in `capabilities`, and the methods each
#: one covers.
KNOWN_CAPABILITIES: Mapping[str, tuple[str, ...]] = {
    "reboot": ("reboot",),
    "power": ("power_off", "power_on"),
    "pause": ("pause", "unpause"),
    "console_output": ("console_output",),
    "snapshot": ("snapshot",),
    "interfaces": ("attach_nic", "detach_nic"),
    "live_migration": ("prepare_incoming", "live_migrate", "finish_incoming"),
    "crash_dump": ("trigger_crash_dump",),
    "migrate": ("migrate_out", "migrate_in", "confirm_migration", "revert_migration"),
}


class PowerState(IntEnum):
    """An instance's power state, with Nova's numbers (`OS-EXT-STS:power_state`)."""

    NOSTATE = 0
    RUNNING = 1
    PAUSED = 3
    SHUTDOWN = 4
    CRASHED = 6
    SUSPENDED = 7


@dataclass(frozen=True)
class Nic:
    """One network interface of an instance: how its traffic leaves the host.

    "user": qemu's own user-mode (slirp) network, reachable only through ports forwarded
    from the host's loopback; "tap": a tap device (`tap`) a network driver made, inside
    the network namespace `netns` when set. An empty `mac` lets the driver choose one.
    `port_id` names the port it is plugged to (how `attach_nic` and `detach_nic` know
    it; letters, digits, '-' and '_').
    """

    mac: str = ""
    kind: Literal["user", "tap"] = "user"
    tap: str | None = None
    netns: str | None = None
    port_id: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "tap" and not self.tap:
            raise ValueError("a tap nic needs the name of its tap device")


@dataclass(frozen=True)
class InstanceSpec:
    """Everything a driver needs to run one instance."""

    id: str
    name: str
    hostname: str
    project_id: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    image_id: str
    image_path: str | None = None  # a local file of the image, when the driver needs the bytes
    user_data: str | None = None  # base64, as the API received it
    key_data: str | None = None  # the ssh public key
    metadata: Mapping[str, str] = field(default_factory=dict)
    project_name: str = ""  # with dns_domain, the guest's name: <hostname>.<project>.<domain>
    dns_domain: str = ""
    nics: tuple[Nic, ...] = ()  # none: the driver's default (one user-mode nic)

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("an instance needs an id")
        if self.vcpus < 1 or self.memory_mb < 1 or self.disk_gb < 0:
            raise ValueError(
                f"bad size for instance {self.id}: vcpus={self.vcpus} "
                f"memory_mb={self.memory_mb} disk_gb={self.disk_gb}")


@dataclass(frozen=True)
class HostResources:
    """What the host offers in total (capacity), and what its memory really holds.

    `memory_overhead_mb`: what one instance costs beyond its guest memory (the
    hypervisor's own memory), as measured on the running instances or the driver's
    known default. `memory_available_mb`: the memory the host can still give (Linux's
    MemAvailable, less what the driver knows it still owes); None when the driver cannot
    tell.
    """

    hypervisor_type: str
    hypervisor_version: int
    hypervisor_hostname: str
    host_ip: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    memory_overhead_mb: int = 0
    memory_available_mb: int | None = None
    #: the instances `memory_available_mb` accounts for (their number and guest memory):
    #: the scheduler takes the memory of any other instance placed here off it
    counted_instances: int | None = None
    counted_memory_mb: int | None = None


@dataclass(frozen=True)
class InstanceInfo:
    """One instance the host runs or holds."""

    id: str
    power_state: PowerState


@dataclass(frozen=True)
class MigrationTarget:
    """Where a source host sends a running instance: the destination's incoming address
    (`uri`, as the driver understands it) and, for a disk the hosts do not share, the NBD
    server that takes it (`nbd_socket`, a unix socket, or `nbd_host` and `nbd_port`;
    `nbd_export`; empty: none). `psk`: the move's key (hex), when the streams speak TLS."""

    uri: str
    nbd_host: str = ""
    nbd_port: int = 0
    nbd_export: str = ""
    nbd_socket: str = ""
    psk: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True)
class MigrationStats:
    """How a live migration went: its total time and the time the guest was paused
    (`downtime_ms`), and the bytes of memory and disk it moved."""

    total_ms: int = 0
    downtime_ms: int = 0
    memory_total: int = 0
    memory_processed: int = 0
    memory_remaining: int = 0
    disk_total: int = 0
    disk_processed: int = 0
    disk_remaining: int = 0


class VirtError(Exception):
    """A driver operation failed; the message says which and why."""


class SpawnError(VirtError):
    """Spawn failed. Whatever that spawn made is gone again (see InstanceExists)."""


class InstanceExists(SpawnError):
    """Spawn of an id the host already has; the existing instance is left untouched."""


class InsufficientResources(SpawnError):
    """The host lacks the vcpus, memory or disk for the instance."""


class InstanceNotFound(VirtError):
    """The host has no instance with that id."""


class UnsupportedOperation(VirtError):
    """The driver lacks the capability for this operation (callers should have checked)."""


class VirtDriver(ABC):
    """Runs instances on one host. See the module docstring for the shared rules."""

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        unknown = cls.capabilities - KNOWN_CAPABILITIES.keys()
        if unknown:
            raise TypeError(f"{cls.__name__} declares unknown capabilities {sorted(unknown)}")
        for capability in cls.capabilities:
            for method in KNOWN_CAPABILITIES[capability]:
                if getattr(cls, method) is getattr(VirtDriver, method):
                    raise TypeError(
                        f"{cls.__name__} declares {capability!r} but does not define {method}")

    @abstractmethod
    def host_resources(self) -> HostResources:
        """The host's hypervisor and total capacity."""

    @abstractmethod
    def list_instances(self) -> list[InstanceInfo]:
        """Every instance this host runs or holds (also stopped ones, and those a previous
        agent process started). Instances still being spawned may be left out."""

    @abstractmethod
    def spawn(self, spec: InstanceSpec) -> None:
        """Create and start the instance; it ends RUNNING.

        Raises InstanceExists (a SpawnError) if the id exists, leaving that instance alone;
        InsufficientResources if the host cannot hold it; SpawnError for any other failure,
        after removing everything this spawn made (disks, processes, files, accounting).
        """

    @abstractmethod
    def destroy(self, instance_id: str) -> None:
        """Stop the instance and remove everything of it, freeing its resources.

        A missing instance is fine (idempotent), so a half-done destroy can be repeated.
        """

    @abstractmethod
    def power_state(self, instance_id: str) -> PowerState:
        """The instance's power state now. InstanceNotFound if missing."""

    def reboot(self, instance_id: str, hard: bool) -> None:
        """Restart the guest (soft: ask it; hard: reset); it ends RUNNING, also when it was
        off. InstanceNotFound if missing. Capability "reboot"."""
        raise UnsupportedOperation(f"{self.name} driver cannot reboot")

    def power_off(self, instance_id: str, timeout: float = 60.0) -> None:
        """Ask the guest to shut down, and cut power after `timeout` seconds; it ends
        SHUTDOWN. Already off is fine. InstanceNotFound if missing. Capability "power"."""
        raise UnsupportedOperation(f"{self.name} driver cannot power off")

    def power_on(self, instance_id: str) -> None:
        """Start a stopped instance; it ends RUNNING. Already on is fine. InstanceNotFound
        if missing. Capability "power"."""
        raise UnsupportedOperation(f"{self.name} driver cannot power on")

    def pause(self, instance_id: str) -> None:
        """Freeze a running instance where it is (its memory stays, its vCPUs stop); it
        ends PAUSED. Already paused is fine; VirtError when it does not run.
        InstanceNotFound if missing. Capability "pause"."""
        raise UnsupportedOperation(f"{self.name} driver cannot pause")

    def unpause(self, instance_id: str) -> None:
        """Let a paused instance run on from where it was; it ends RUNNING. Already
        running is fine; VirtError when it is off. InstanceNotFound if missing.
        Capability "pause"."""
        raise UnsupportedOperation(f"{self.name} driver cannot unpause")

    def console_output(self, instance_id: str, length: int | None = None) -> str:
        """The last `length` lines of the serial console (None: all of it), each ending in
        a newline. InstanceNotFound if missing. Capability "console_output"."""
        raise UnsupportedOperation(f"{self.name} driver has no console output")

    def snapshot(self, instance_id: str, target: Path) -> str:
        """Write a disk image of the instance to `target` (replaced if it exists; its
        directory must exist) and return its disk_format, 'qcow2' or 'raw'. On failure
        `target` is not left half-written. InstanceNotFound if missing. Capability
        "snapshot"."""
        raise UnsupportedOperation(f"{self.name} driver cannot snapshot")

    def trigger_crash_dump(self, instance_id: str) -> None:
        """Inject a non-maskable interrupt into the running guest (Nova's crash dump:
        its kernel may dump and reboot). VirtError when it is not running;
        InstanceNotFound if missing. Capability "crash_dump"."""
        raise UnsupportedOperation(f"{self.name} driver cannot trigger crash dumps")

    def attach_nic(self, instance_id: str, nic: Nic) -> None:
        """Give the instance one more NIC (`nic.port_id` names it): hot-plugged into a
        running guest, and there at every later start. Attaching a port it already has
        is fine. InstanceNotFound if missing. Capability "interfaces"."""
        raise UnsupportedOperation(f"{self.name} driver cannot attach interfaces")

    def detach_nic(self, instance_id: str, port_id: str) -> None:
        """Take the NIC of `port_id` away (unplugged from a running guest, gone at later
        starts). A NIC it does not have is fine. InstanceNotFound if missing. Capability
        "interfaces"."""
        raise UnsupportedOperation(f"{self.name} driver cannot detach interfaces")

    def prepare_incoming(self, spec: InstanceSpec, psk: str = "") -> MigrationTarget:
        """On the destination of a live migration: make the instance's disk (empty, on
        the same image and of the same size) and a paused machine waiting for the guest
        at the address returned (with `psk`, a key in hex: only a source that has it).
        Raises as spawn does (InstanceExists, SpawnError, after removing what it made);
        `destroy` removes a prepared instance. Capability "live_migration"."""
        raise UnsupportedOperation(f"{self.name} driver cannot live-migrate")

    def live_migrate(self, instance_id: str, target: MigrationTarget,
                     timeout: float = 600.0) -> MigrationStats:
        """On the source: copy the running instance's disk and memory to `target` (a
        destination's `prepare_incoming`), pausing it only for the last round. On success
        the instance here stays paused, for `destroy`; on failure (VirtError, also after
        `timeout` seconds) it runs on here as before. InstanceNotFound if missing.
        Capability "live_migration"."""
        raise UnsupportedOperation(f"{self.name} driver cannot live-migrate")

    def finish_incoming(self, instance_id: str) -> None:
        """On the destination, once `live_migrate` succeeded: stop taking the disk and let
        the guest run; it ends RUNNING. InstanceNotFound if missing. Capability
        "live_migration"."""
        raise UnsupportedOperation(f"{self.name} driver cannot live-migrate")
    def migrate_out(self, instance_id: str) -> str:
        """Move the instance away from this host (a resize or cold migration): stop it and
        set it aside (no longer listed, its files kept), and offer its disk read-only to
        the destination. Returns the source to give `migrate_in` there (a URI another
        host can read; it may serve one copy only). Asked again for an instance set
        aside, it offers it again. InstanceNotFound if missing. Capability "migrate"."""
        raise UnsupportedOperation(f"{self.name} driver cannot migrate")

    def migrate_in(self, spec: InstanceSpec, source: str, power_on: bool) -> None:
        """Create the instance from the disk `migrate_out` offered as `source` (also on
        this very host), grown to `spec.disk_gb` when that is larger, with `spec`'s
        vcpus and memory; started when `power_on`, else left SHUTDOWN. Raises as
        `spawn` does, and leaves nothing behind on failure. Capability "migrate"."""
        raise UnsupportedOperation(f"{self.name} driver cannot migrate")

    def confirm_migration(self, instance_id: str) -> None:
        """Remove the copy `migrate_out` set aside (the move is confirmed). A copy that
        is not there is fine. Capability "migrate"."""
        raise UnsupportedOperation(f"{self.name} driver cannot migrate")

    def revert_migration(self, instance_id: str, power_on: bool) -> None:
        """Bring the copy `migrate_out` set aside back as the instance (started when
        `power_on`); the copy `migrate_in` made on this host must be destroyed first.
        InstanceNotFound if there is no such copy; an instance already back is fine.
        Capability "migrate"."""
        raise UnsupportedOperation(f"{self.name} driver cannot migrate")

    def manage_image_cache(self) -> None:  # noqa: B027 - an optional hook, empty on purpose
        """Bound the host's cache of images (the agent calls this now and then): remove
        cached images no instance here uses, as the driver's limits say."""

    def close(self) -> None:  # noqa: B027 - an optional hook, empty on purpose
        """Release what the driver holds (not the instances: they keep running)."""
