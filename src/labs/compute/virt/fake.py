"""The fake driver: no processes, but honest accounting and instances that outlive the agent.

Each instance lives in a JSON file of its own, `fake-virt-<host>/<id>.json` under the state
directory, written whole to a temporary file and moved into place (os.replace), so readers
and a restarted agent (a new FakeDriver on the same directory and host) always see complete
files: the instances are "still running", as real VMs are after an agent restart. A write
costs the same with 1 or 1,000 instances on the host.

Memory: `memory_overhead_mb` is reported as each instance's cost beyond its guest memory,
and `memory_available_mb` (when given) as the host's MemAvailable with no instance, less
the memory and overhead of each instance it holds, as a real host would show them.

Capacity is honoured: spawn raises InsufficientResources when the instances' memory or
disk would exceed the host's totals, or their vcpus the totals times ``vcpu_overcommit``
(a real host time-shares its CPUs: give it the scheduler's CPU allocation ratio, so that
what the scheduler may place, the driver accepts). Stopped instances still hold their
share.

One driver at a time per state directory and host.

Tests inject spawn failures with the metadata key `fake:fail_spawn_on`: a comma-separated
list of host names on which spawn fails (and stores nothing).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from labs.compute.virt.base import (
    HostResources,
    InstanceExists,
    InstanceInfo,
    InstanceNotFound,
    InstanceSpec,
    InsufficientResources,
    MigrationStats,
    MigrationTarget,
    Nic,
    PowerState,
    SpawnError,
    VirtDriver,
    VirtError,
)
from labs.compute.virt.fake_console import console_lines, write_atomic

FAIL_SPAWN_KEY = "fake:fail_spawn_on"
STATE_FORMAT = 1
SNAPSHOT_BYTES = 64 * 1024
_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_RESOURCES = ("vcpus", "memory_mb", "disk_gb")
_KEPT = ("name", "hostname", "project_id", "image_id", *_RESOURCES)

Record = Mapping[str, Any]  # one instance as stored; replaced whole, never changed in place


class FakeDriver(VirtDriver):
    """Pretends to run instances; see the module docstring."""

    name: ClassVar[str] = "fake"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"reboot", "power", "pause", "console_output", "snapshot", "interfaces",
         "live_migration", "crash_dump", "migrate"})

    def __init__(self, state_dir: Path, host: str, vcpus: int = 16, memory_mb: int = 65536,
                 disk_gb: int = 1024, spawn_seconds: float = 0.0,
                 vcpu_overcommit: float = 1.0, memory_overhead_mb: int = 0,
                 memory_available_mb: int | None = None) -> None:
        if not _HOST_NAME.fullmatch(host):
            raise ValueError(f"bad host name for the fake driver: {host!r}")
        self.host = host
        self.totals = {"vcpus": vcpus, "memory_mb": memory_mb, "disk_gb": disk_gb}
        self.limits = {**self.totals, "vcpus": int(vcpus * vcpu_overcommit)}
        self.spawn_seconds = spawn_seconds
        self.migrate_seconds = 0.0  # how long a live migration takes (tests set it)
        #: what each instance costs beyond its guest memory; the host's available memory
        #: with none running (None: not reported)
        self.memory_overhead_mb, self.memory_available_mb = memory_overhead_mb, memory_available_mb
        self.instances_dir = Path(state_dir) / f"fake-virt-{host}"
        self._lock = threading.Lock()
        self._building: dict[str, InstanceSpec] = {}  # reserved, not yet stored
        self.instances_dir.mkdir(parents=True, exist_ok=True)
        #: instances moved away and not yet confirmed (`migrate_out`), one file each
        self.aside_dir = self.instances_dir / "aside"
        self.aside_dir.mkdir(exist_ok=True)
        for stale in self.instances_dir.glob(".*.tmp"):
            stale.unlink(missing_ok=True)  # a write cut short by a crash
        self._instances: dict[str, Record] = self._load()
        #: what stored and building instances hold, kept up to date by _store and spawn
        self._used = {key: sum(int(rec[key]) for rec in self._instances.values())
                      for key in _RESOURCES}

    # -- the interface ------------------------------------------------------------------

    def host_resources(self) -> HostResources:
        return HostResources(
            hypervisor_type="fake", hypervisor_version=1000, hypervisor_hostname=self.host,
            host_ip="127.0.0.1", vcpus=self.totals["vcpus"],
            memory_mb=self.totals["memory_mb"], disk_gb=self.totals["disk_gb"],
            memory_overhead_mb=self.memory_overhead_mb, **self._available())

    def _available(self) -> dict[str, int | None]:
        """The configured available memory less each instance's memory and overhead, and
        the instances it counts."""
        if self.memory_available_mb is None:
            return {}
        with self._lock:
            memory = sum(int(rec["memory_mb"]) for rec in self._instances.values())
            count = len(self._instances)
        return {"memory_available_mb":
                self.memory_available_mb - memory - count * self.memory_overhead_mb,
                "counted_instances": count, "counted_memory_mb": memory}

    def list_instances(self) -> list[InstanceInfo]:
        with self._lock:
            return [InstanceInfo(id=key, power_state=PowerState(rec["power_state"]))
                    for key, rec in self._instances.items()]

    def spawn(self, spec: InstanceSpec) -> None:
        with self._lock:
            if spec.id in self._instances or spec.id in self._building:
                raise InstanceExists(f"instance {spec.id} already exists on {self.host}")
            self._check_capacity(spec)
            self._building[spec.id] = spec  # holds its resources while it "builds"
            self._hold(spec, +1)
        try:
            if self.spawn_seconds > 0:
                time.sleep(self.spawn_seconds)
            fail_on = spec.metadata.get(FAIL_SPAWN_KEY, "")
            if self.host in {part.strip() for part in fail_on.split(",")}:
                raise SpawnError(f"fake spawn failure injected on {self.host}")
        except BaseException:
            with self._lock:
                del self._building[spec.id]
                self._hold(spec, -1)
            raise
        record: dict[str, Any] = {key: getattr(spec, key) for key in _KEPT}
        record.update(power_state=int(PowerState.RUNNING), events=["boot"],
                      nics=[nic.port_id or "" for nic in spec.nics])
        with self._lock:  # stored and unreserved at once, so never counted twice
            try:
                self._store(spec.id, record)
            finally:
                del self._building[spec.id]
                self._hold(spec, -1)

    def destroy(self, instance_id: str) -> None:
        with self._lock:
            if instance_id in self._instances:
                self._store(instance_id, None)

    def power_state(self, instance_id: str) -> PowerState:
        with self._lock:
            return PowerState(self._get(instance_id)["power_state"])

    def reboot(self, instance_id: str, hard: bool) -> None:
        self._power_event(instance_id, "reboot:hard" if hard else "reboot:soft",
                          PowerState.RUNNING)

    def power_off(self, instance_id: str, timeout: float = 60.0) -> None:
        self._power_event(instance_id, "power_off", PowerState.SHUTDOWN)

    def power_on(self, instance_id: str) -> None:
        self._power_event(instance_id, "power_on", PowerState.RUNNING)

    def pause(self, instance_id: str) -> None:
        self._freeze(instance_id, PowerState.RUNNING, PowerState.PAUSED, "pause")

    def unpause(self, instance_id: str) -> None:
        self._freeze(instance_id, PowerState.PAUSED, PowerState.RUNNING, "unpause")

    def _freeze(self, instance_id: str, before: PowerState, after: PowerState,
                event: str) -> None:
        with self._lock:
            rec = self._get(instance_id)
            if rec["power_state"] == after:
                return
            if rec["power_state"] != before:
                raise VirtError(f"cannot {event} instance {instance_id}: it is "
                                f"{PowerState(rec['power_state']).name.lower()}")
            self._store(instance_id, {**rec, "power_state": int(after),
                                      "events": [*rec["events"], event]})

    def trigger_crash_dump(self, instance_id: str) -> None:
        with self._lock:
            rec = self._get(instance_id)
            if rec["power_state"] != PowerState.RUNNING:
                raise VirtError(f"instance {instance_id} is not running")
            self._store(instance_id, {**rec, "events": [*rec["events"], "nmi"]})

    def events(self, instance_id: str) -> list[str]:
        """What happened to the instance: boot, power and NIC events, "nmi"."""
        with self._lock:
            return list(self._get(instance_id)["events"])

    def console_output(self, instance_id: str, length: int | None = None) -> str:
        if length is not None and length < 0:
            raise ValueError(f"console length must not be negative: {length}")
        with self._lock:
            rec = self._get(instance_id)
        lines = console_lines(instance_id, rec)
        if length is not None:
            lines = lines[-length:] if length else []
        return "".join(line + "\n" for line in lines)

    def attach_nic(self, instance_id: str, nic: Nic) -> None:
        if not nic.port_id:
            raise VirtError(f"a NIC attached to {instance_id} needs its port's id")
        with self._lock:
            rec = self._get(instance_id)
            if nic.port_id in rec.get("nics", []):
                return
            self._store(instance_id, {**rec, "nics": [*rec.get("nics", []), nic.port_id],
                                      "events": [*rec["events"], f"attach:{nic.port_id}"]})

    def detach_nic(self, instance_id: str, port_id: str) -> None:
        with self._lock:
            rec = self._get(instance_id)
            if port_id not in rec.get("nics", []):
                return
            self._store(instance_id, {
                **rec, "nics": [p for p in rec["nics"] if p != port_id],
                "events": [*rec["events"], f"detach:{port_id}"]})

    def prepare_incoming(self, spec: InstanceSpec, psk: str = "") -> MigrationTarget:
        self.spawn(spec)
        self._power_event(spec.id, "incoming", PowerState.PAUSED)
        return MigrationTarget(uri=f"fake:{self.host}")

    def live_migrate(self, instance_id: str, target: MigrationTarget,
                     timeout: float = 600.0) -> MigrationStats:
        with self._lock:
            rec = self._get(instance_id)
        if rec["power_state"] != PowerState.RUNNING or not target.uri.startswith("fake:"):
            raise VirtError(f"instance {instance_id} cannot be live-migrated to {target.uri}")
        if self.migrate_seconds > 0:
            time.sleep(self.migrate_seconds)
        self._power_event(instance_id, f"migrated:{target.uri[5:]}", PowerState.PAUSED)
        memory = int(rec["memory_mb"]) << 20
        return MigrationStats(total_ms=1, downtime_ms=1, memory_total=memory,
                              memory_processed=memory)

    def finish_incoming(self, instance_id: str) -> None:
        self._power_event(instance_id, "arrived", PowerState.RUNNING)

    def nics(self, instance_id: str) -> list[str]:
        """The ports of the instance's NICs, in order ("" for a NIC without a port)."""
        with self._lock:
            return list(self._get(instance_id).get("nics", []))

    def snapshot(self, instance_id: str, target: Path) -> str:
        with self._lock:
            rec = self._get(instance_id)
        head = f"LABS-FAKE-SNAPSHOT {instance_id} {rec['image_id']} {rec['hostname']}\n"
        data = head.encode().ljust(SNAPSHOT_BYTES, b"\0")
        try:
            write_atomic(Path(target), data)
        except OSError as exc:
            raise VirtError(f"snapshot of {instance_id} to {target} failed: {exc}") from exc
        return "raw"

    def migrate_out(self, instance_id: str) -> str:
        with self._lock:
            aside = self.aside_dir / f"{instance_id}.json"
            if instance_id not in self._instances and aside.exists():  # asked again
                disk_gb = int(json.loads(aside.read_bytes())["disk_gb"])
                return f"fake://{self.host}/{instance_id}/{disk_gb}"
            rec = self._get(instance_id)
            kept = {**rec, "power_state": int(PowerState.SHUTDOWN),
                    "events": [*rec["events"], "power_off"]}
            try:
                write_atomic(aside, json.dumps(kept, sort_keys=True).encode())
            except OSError as exc:
                raise VirtError(f"cannot set {instance_id} aside: {exc}") from exc
            self._store(instance_id, None)
        return f"fake://{self.host}/{instance_id}/{int(rec['disk_gb'])}"

    def migrate_in(self, spec: InstanceSpec, source: str, power_on: bool) -> None:
        """`source` says the disk's size: the fake's hosts share no files."""
        host, _, rest = source.removeprefix("fake://").partition("/")
        instance_id, _, disk_gb = rest.partition("/")
        if (not source.startswith("fake://") or instance_id != spec.id
                or not _HOST_NAME.fullmatch(host) or not disk_gb.isdigit()):
            raise SpawnError(f"instance {spec.id}: bad migration source {source!r}")
        if spec.disk_gb < int(disk_gb):
            raise SpawnError(f"instance {spec.id}: its disk cannot shrink from {disk_gb} to "
                             f"{spec.disk_gb} GiB")
        self.spawn(spec)
        if not power_on:
            self.power_off(spec.id)

    def confirm_migration(self, instance_id: str) -> None:
        (self.aside_dir / f"{instance_id}.json").unlink(missing_ok=True)

    def revert_migration(self, instance_id: str, power_on: bool) -> None:
        path = self.aside_dir / f"{instance_id}.json"
        with self._lock:
            if instance_id in self._instances and not path.exists():
                return  # reverted before
            if instance_id in self._instances:
                raise VirtError(f"instance {instance_id} is here: destroy it before a revert")
            try:
                rec = json.loads(path.read_bytes())
            except OSError:
                raise InstanceNotFound(f"no instance {instance_id} set aside on "
                                       f"{self.host}") from None
            if power_on:
                rec = {**rec, "power_state": int(PowerState.RUNNING),
                       "events": [*rec["events"], "power_on"]}
            self._store(instance_id, rec)
            path.unlink()

    # -- helpers (callers hold self._lock unless said otherwise) -------------------------

    def _get(self, instance_id: str) -> Record:
        try:
            return self._instances[instance_id]
        except KeyError:
            raise InstanceNotFound(f"no instance {instance_id} on {self.host}") from None

    def record_path(self, instance_id: str) -> Path:
        """The file that holds one instance (it may not exist)."""
        return self.instances_dir / f"{instance_id}.json"

    def _hold(self, resources: InstanceSpec | Record, sign: int) -> None:
        for key in _RESOURCES:
            value = resources[key] if isinstance(resources, Mapping) else getattr(
                resources, key)
            self._used[key] += sign * int(value)

    def _check_capacity(self, spec: InstanceSpec) -> None:
        for key in _RESOURCES:
            used = self._used[key]
            wanted = int(getattr(spec, key))
            if used + wanted > self.limits[key]:
                raise InsufficientResources(
                    f"{self.host} cannot hold instance {spec.id}: {key} {wanted} wanted, "
                    f"{self.limits[key] - used} of {self.limits[key]} free")

    def _power_event(self, instance_id: str, event: str, state: PowerState) -> None:
        """Record a power event (takes the lock); a no-op when already in `state`, except
        reboots, which always happen."""
        with self._lock:
            rec = self._get(instance_id)
            if event.startswith("power_") and rec["power_state"] == state:
                return
            self._store(instance_id, {**rec, "power_state": int(state),
                                      "events": [*rec["events"], event]})

    def _store(self, instance_id: str, record: Record | None) -> None:
        """Write `instance_id`'s file as `record` (None: remove it), then adopt it; on a
        failed write nothing changes."""
        path = self.record_path(instance_id)
        old = self._instances.get(instance_id)
        try:
            if record is None:
                path.unlink(missing_ok=True)
            else:
                state = {"format": STATE_FORMAT, "host": self.host, "id": instance_id,
                         "instance": record}
                write_atomic(path, json.dumps(state, sort_keys=True).encode())
        except OSError as exc:
            error = SpawnError if old is None else VirtError
            raise error(f"cannot write {path}: {exc}") from exc
        if old is not None:
            self._hold(old, -1)
            del self._instances[instance_id]
        if record is not None:
            self._hold(record, +1)
            self._instances[instance_id] = record

    def _load(self) -> dict[str, Record]:
        instances: dict[str, Record] = {}
        for path in sorted(self.instances_dir.glob("*.json")):
            try:
                state = json.loads(path.read_bytes())
                if (state["format"] != STATE_FORMAT or state["host"] != self.host
                        or f"{state['id']}.json" != path.name):
                    raise ValueError(
                        f"format {state['format']}, host {state['host']}, id {state['id']}")
                record: Record = state["instance"]
                PowerState(record["power_state"])
                for key in _RESOURCES:
                    int(record[key])
            except (ValueError, KeyError, TypeError) as exc:
                raise VirtError(f"bad fake driver state in {path}: {exc}") from exc
            instances[state["id"]] = record
        return instances
