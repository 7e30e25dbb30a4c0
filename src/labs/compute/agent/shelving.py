"""The agent's part in snapshots, shelving, backups and crash dumps (see
labs.compute.api.server_shelve): what the bus delivers, and the work, each under the
instance's lock as every other operation.

shelve: power off, snapshot into the shelved image, and (offload) destroy the VM and
unplug its ports; unshelve: power on the VM still here, or plug the ports and boot the
spec the conductor sent (its image the shelved one), then delete that image.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labs.compute import states
from labs.compute.agent.nics import nics_of, replug, unplug
from labs.compute.agent.snapshots import delete_image, rotate_backups, upload_snapshot
from labs.compute.payloads import BuildSpec
from labs.compute.virt.base import InstanceNotFound, InstanceSpec, Nic, VirtDriver, VirtError
from labs.network.instance_spec import ports_of
from labs.network.specs import NetworkError

if TYPE_CHECKING:
    from labs.compute.rpcapi import ConductorAPI
    from labs.network.agent.host import HostNetworking

log = logging.getLogger("labs.compute.agent.manager")


class ShelvingAgent:
    """Part of the Agent (served on ``compute.<host>``)."""

    host: str
    driver: VirtDriver
    network: HostNetworking
    conductor: ConductorAPI
    snapshot_dir: Path | None
    _specs: dict[str, BuildSpec]

    if TYPE_CHECKING:
        def _submit(self, instance_id: str, work: Callable[..., None], *args: Any) -> None: ...
        def _notify(self, event: str, spec: BuildSpec | None, instance_id: str, state: str,
                    task_state: str | None = None, **extra: Any) -> None: ...
        def _report(self, instance_id: str, action: str, error: str | None) -> None: ...
        def _instance_spec(self, spec: BuildSpec,
                           nics: tuple[Nic, ...] = ()) -> InstanceSpec: ...
        def _network_of(self, instance_id: str) -> dict[str, Any] | None: ...

    # -- what the bus delivers -------------------------------------------------------
    def shelve_instance(self, instance_id: str, image_id: str, image_url: str, token: str,
                        offload: bool) -> None:
        self._submit(instance_id, self._shelve, instance_id, image_id, image_url, token,
                     offload)

    def shelve_offload_instance(self, instance_id: str) -> None:
        self._submit(instance_id, self._offload, instance_id)

    def unshelve_instance(self, instance_id: str, image_url: str, token: str,
                          image_id: str | None, spec: dict[str, Any] | None = None) -> None:
        build = BuildSpec.from_message(spec) if spec is not None else None
        self._submit(instance_id, self._unshelve, instance_id, image_url, token, image_id,
                     build)

    def backup_instance(self, instance_id: str, image_id: str, image_url: str, token: str,
                        backup_type: str, rotation: int) -> None:
        self._submit(instance_id, self._backup, instance_id, image_id, image_url, token,
                     backup_type, rotation)

    def trigger_crash_dump(self, instance_id: str) -> None:
        self._submit(instance_id, self._crash_dump, instance_id)

    # -- the work --------------------------------------------------------------------
    def _power_state(self, instance_id: str) -> int:
        try:
            return int(self.driver.power_state(instance_id))
        except InstanceNotFound:
            return states.NOSTATE

    def _shelve(self, instance_id: str, image_id: str, image_url: str, token: str,
                offload: bool) -> None:
        spec = self._specs.get(instance_id)
        self._notify("shelve.start", spec, instance_id, states.ACTIVE, states.SHELVING)
        error: str | None = None
        try:  # a clean shutdown first, so the disk is consistent
            self.driver.power_off(instance_id)
        except VirtError as exc:
            error = f"power off of {instance_id} failed: {exc}"
        if error is None:
            error = upload_snapshot(self.driver, instance_id, self.snapshot_dir, image_id,
                                    image_url, token)
        if error is not None:
            log.warning("%s: shelve of %s: %s", self.host, instance_id, error)
            self.conductor.shelve_done(instance_id, self.host, self._power_state(instance_id),
                                       False, error)
            return
        self._notify("shelve.end", spec, instance_id, states.SHELVED)
        if offload:
            self._offload(instance_id)
        else:
            self.conductor.shelve_done(instance_id, self.host,
                                       self._power_state(instance_id), False)

    def _offload(self, instance_id: str) -> None:
        spec = self._specs.get(instance_id)
        self._notify("shelve_offload.start", spec, instance_id, states.SHELVED,
                     states.SHELVING_OFFLOADING)
        try:
            self.driver.destroy(instance_id)
        except VirtError as exc:
            self.conductor.shelve_done(instance_id, self.host, self._power_state(instance_id),
                                       False, f"offload of {instance_id} failed: {exc}")
            return
        unplug(self.network, self._network_of(instance_id), instance_id)
        self._specs.pop(instance_id, None)
        self._notify("shelve_offload.end", spec, instance_id, states.SHELVED_OFFLOADED)
        self.conductor.shelve_done(instance_id, self.host, states.NOSTATE, True)

    def _unshelve(self, instance_id: str, image_url: str, token: str, image_id: str | None,
                  spec: BuildSpec | None) -> None:
        known = self._specs.get(instance_id) or spec
        self._notify("unshelve.start", known, instance_id, states.SHELVED, states.UNSHELVING)
        error = self._boot(instance_id, spec)
        if error is None and image_id is not None:
            delete_image(image_url, image_id, token)  # as Nova: the shelved image goes
        if error is not None:
            log.warning("%s: unshelve of %s failed: %s", self.host, instance_id, error)
        else:
            self._notify("unshelve.end", known, instance_id, states.ACTIVE)
        self.conductor.unshelve_done(instance_id, self.host, self._power_state(instance_id),
                                     error)

    def _boot(self, instance_id: str, spec: BuildSpec | None) -> str | None:
        """Power on the VM still on this host, or boot ``spec``; None or what failed."""
        try:
            self.driver.power_state(instance_id)
        except InstanceNotFound:
            pass
        else:
            error = replug(self.network, self._network_of(instance_id))
            if error is not None:
                return error
            try:
                self.driver.power_on(instance_id)
            except VirtError as exc:
                return str(exc) or type(exc).__name__
            return None
        if spec is None:
            return f"instance {instance_id} is not on {self.host} and no spec came to boot it"
        ports = ports_of(spec.network)
        try:
            nics = nics_of(self.network.plug_all(ports))
        except NetworkError as exc:
            return f"network: {exc}"
        try:
            self.driver.spawn(self._instance_spec(spec, nics))
        except VirtError as exc:
            self.network.unplug_all([port.port_id for port in ports])
            return str(exc) or type(exc).__name__
        self._specs[instance_id] = spec
        return None

    def _snapshot(self, instance_id: str, image_id: str, image_url: str, token: str) -> None:
        spec = self._specs.get(instance_id)
        self._notify("snapshot.start", spec, instance_id, states.ACTIVE,
                     states.IMAGE_SNAPSHOT)
        error = upload_snapshot(self.driver, instance_id, self.snapshot_dir, image_id,
                                image_url, token)
        if error is not None:
            log.warning("%s: %s", self.host, error)
        self._notify("snapshot.end", spec, instance_id, states.ACTIVE)
        self._report(instance_id, "createImage", error)

    def _shelve_cut_short(self, instance_id: str, task: str) -> None:
        """A shelve the agent's restart interrupted: the caller's token may be gone, so
        the snapshot is given up; an offload is simply done again."""
        if task == states.SHELVING_OFFLOADING:
            self._offload(instance_id)
            return
        self.conductor.shelve_done(instance_id, self.host, self._power_state(instance_id),
                                   False, "the agent restarted during the shelve; shelve "
                                   "again")

    def _backup(self, instance_id: str, image_id: str, image_url: str, token: str,
                backup_type: str, rotation: int) -> None:
        spec = self._specs.get(instance_id)
        self._notify("snapshot.start", spec, instance_id, states.ACTIVE, states.IMAGE_BACKUP)
        error = upload_snapshot(self.driver, instance_id, self.snapshot_dir, image_id,
                                image_url, token)
        if error is None:
            error = rotate_backups(image_url, token, instance_id, backup_type, rotation)
        if error is not None:
            log.warning("%s: %s", self.host, error)
        self._notify("snapshot.end", spec, instance_id, states.ACTIVE)
        self._report(instance_id, "createBackup", error)

    def _crash_dump(self, instance_id: str) -> None:
        error: str | None = None
        try:
            self.driver.trigger_crash_dump(instance_id)
        except VirtError as exc:
            error = str(exc) or type(exc).__name__
            log.warning("%s: crash dump of %s failed: %s", self.host, instance_id, error)
        self.conductor.event_done(instance_id, self.host, "trigger_crash_dump",
                                  "compute_trigger_crash_dump", error)
