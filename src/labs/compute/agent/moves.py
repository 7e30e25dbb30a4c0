"""What an agent does for a resize or a cold migration, at either end (the conductor
drives the steps, see conductor.moves): the source sets the instance aside and offers its
disk (`migrate_out`), the destination copies it and starts the guest with the new flavor
on the same ports (`migrate_in`); then the source drops its copy (`confirm_migration`), or
the destination drops its own (`drop_migration`) and the source brings its copy back
(`revert_migration`). Each step runs under the instance's lock and reports to the
conductor, also when it fails."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from labs.compute import states
from labs.compute.agent.nics import nics_of, replug
from labs.compute.agent.nics import unplug as unplug_ports
from labs.compute.payloads import BuildSpec
from labs.compute.rpcapi import ConductorAPI
from labs.compute.virt.base import InstanceNotFound, InstanceSpec, Nic, VirtDriver, VirtError
from labs.network.agent.host import HostNetworking
from labs.network.instance_spec import ports_of
from labs.network.specs import NetworkError

log = logging.getLogger("labs.compute.agent.moves")


class AgentMoves:
    """The move steps of Agent, which provides what is declared here."""

    host: str
    driver: VirtDriver
    network: HostNetworking
    conductor: ConductorAPI
    _specs: dict[str, BuildSpec]

    def _submit(self, instance_id: str, work: Callable[..., None], *args: Any) -> None:
        raise NotImplementedError

    def _instance_spec(self, spec: BuildSpec, nics: tuple[Nic, ...] = ()) -> InstanceSpec:
        raise NotImplementedError

    def _notify(self, event: str, spec: BuildSpec | None, instance_id: str, state: str,
                task_state: str | None = None, **extra: Any) -> None:
        raise NotImplementedError

    def _network_of(self, instance_id: str) -> dict[str, Any] | None:
        raise NotImplementedError

    # -- what the bus delivers -------------------------------------------------------
    def migrate_out(self, instance_id: str, migration_id: str) -> None:
        self._submit(instance_id, self._migrate_out, instance_id, migration_id)

    def migrate_in(self, spec: dict[str, Any], migration_id: str, source: str,
                   power_on: bool) -> None:
        build = BuildSpec.from_message(spec)
        self._submit(build.id, self._migrate_in, build, migration_id, source, power_on)

    def confirm_migration(self, instance_id: str, migration_id: str, unplug: bool) -> None:
        self._submit(instance_id, self._confirm_migration, instance_id, migration_id, unplug)

    def drop_migration(self, instance_id: str, migration_id: str, unplug: bool) -> None:
        self._submit(instance_id, self._drop_migration, instance_id, migration_id, unplug)

    def revert_migration(self, spec: dict[str, Any], migration_id: str,
                         power_on: bool) -> None:
        build = BuildSpec.from_message(spec)
        self._submit(build.id, self._revert_migration, build, migration_id, power_on)

    # -- the steps -------------------------------------------------------------------
    def _migrate_out(self, instance_id: str, migration_id: str) -> None:
        spec = self._specs.get(instance_id)
        self._notify("resize.start", spec, instance_id, states.ACTIVE,
                     states.RESIZE_MIGRATING)
        try:
            source = self.driver.migrate_out(instance_id)
        except VirtError as exc:
            log.warning("%s: %s cannot move away: %s", self.host, instance_id, exc)
            self.conductor.migrated_out(instance_id, migration_id, self.host, "", str(exc))
            return
        self._notify("resize.end", spec, instance_id, states.ACTIVE, states.RESIZE_MIGRATED)
        self.conductor.migrated_out(instance_id, migration_id, self.host, source)

    def _migrate_in(self, spec: BuildSpec, migration_id: str, source: str,
                    power_on: bool) -> None:
        iid = spec.id
        try:
            self.driver.power_state(iid)
        except InstanceNotFound:
            pass
        else:  # done before a redelivery
            self._specs[iid] = spec
            self.conductor.migrated_in(iid, migration_id, self.host, self._power_now(iid))
            return
        self._notify("finish_resize.start", spec, iid, states.ACTIVE, states.RESIZE_FINISH)
        try:
            nics = nics_of(self.network.plug_all(ports_of(spec.network)))
            self.driver.migrate_in(self._instance_spec(spec, nics), source, power_on)
        except (NetworkError, VirtError) as exc:
            log.warning("%s: %s cannot move here: %s", self.host, iid, exc)
            self.conductor.migrated_in(iid, migration_id, self.host, states.NOSTATE, str(exc))
            return
        self._specs[iid] = spec
        self._notify("finish_resize.end", spec, iid, states.RESIZED)
        self.conductor.migrated_in(iid, migration_id, self.host, self._power_now(iid))

    def _confirm_migration(self, instance_id: str, migration_id: str, unplug: bool) -> None:
        error = None
        try:
            self.driver.confirm_migration(instance_id)
        except VirtError as exc:
            error = str(exc)
        if unplug:  # the instance and its ports now live on another host
            unplug_ports(self.network, self._network_of(instance_id), instance_id)
            self._specs.pop(instance_id, None)
        self.conductor.migration_confirmed(instance_id, migration_id, self.host, error)

    def _drop_migration(self, instance_id: str, migration_id: str, unplug: bool) -> None:
        error = None
        try:
            self.driver.destroy(instance_id)
        except VirtError as exc:
            error = str(exc)
        if unplug and error is None:
            unplug_ports(self.network, self._network_of(instance_id), instance_id)
            self._specs.pop(instance_id, None)
        self.conductor.migration_dropped(instance_id, migration_id, self.host, error)

    def _revert_migration(self, spec: BuildSpec, migration_id: str, power_on: bool) -> None:
        iid = spec.id
        self._specs[iid] = spec
        error = replug(self.network, self._network_of(iid))
        if error is None:
            try:
                self.driver.revert_migration(iid, power_on)
            except VirtError as exc:
                error = str(exc)
        self.conductor.migration_reverted(iid, migration_id, self.host, self._power_now(iid),
                                          error)

    def _power_now(self, instance_id: str) -> int:
        try:
            return int(self.driver.power_state(instance_id))
        except InstanceNotFound:
            return states.NOSTATE
