"""An agent's part in a live migration (see conductor.live_migration for the whole).

On the destination: `prepare` plugs the server's ports (the same ports: its MACs and
fixed IPs go with it) and has the driver wait for the guest; `finish` lets it run there,
`abort` removes both again. On the source: `send` has the driver copy the guest over,
then the destination finish, then removes the paused copy here and unplugs its ports;
on a failure the guest runs on here and the destination aborts. The source reports to
the conductor either way, with the time the guest was paused.

A driver whose destination waits on unix sockets (qemu) has its streams carried between
the hosts by the agents (agent.relays): the destination's relay listens on its `[agent]
host_ip` for that one move, the source's on unix sockets its qemu connects to. Both are
closed when the move ends on their side, or after `MOVE_SECONDS`. The move's key (`psk`,
from the conductor) goes to the driver on both sides, which has qemu speak TLS with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from labs.common.bus import BusError
from labs.compute import states
from labs.compute.agent.nics import nics_of, unplug
from labs.compute.agent.relays import DISK, MIGRATION, Inbound, Outbound, Relay
from labs.compute.payloads import BuildSpec
from labs.compute.rpcapi import AgentAPI
from labs.compute.virt.base import InstanceNotFound, MigrationTarget, VirtError
from labs.network.instance_spec import ports_of

if TYPE_CHECKING:
    from labs.compute.agent.manager import Agent

log = logging.getLogger("labs.compute.agent.live_migration")
MOVE_SECONDS = 600.0  # the longest a move may take (the source's driver gives up then)
RELAY_SECONDS = MOVE_SECONDS + 120.0  # and its relays, which outlive it a little


class LiveMigrationWork:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.agents = AgentAPI(agent.bus)
        self._relays: dict[str, Relay] = {}  # the destination's, of each move under way

    def prepare(self, spec: BuildSpec, psk: str = "") -> dict[str, Any]:
        """Destination: plug and wait; where to send the guest (a call: errors go back)."""
        agent = self.agent
        with agent._lock(spec.id):
            agent._specs[spec.id] = spec
            nics = nics_of(agent.network.plug_all(ports_of(spec.network)))
            try:
                target = agent.driver.prepare_incoming(agent._instance_spec(spec, nics), psk)
                try:
                    found = self._relay_in(spec.id, target, psk)
                except BaseException:
                    agent.driver.destroy(spec.id)
                    raise
            except BaseException:
                unplug(agent.network, agent._network_of(spec.id), spec.id)
                agent._specs.pop(spec.id, None)
                raise
        agent._notify("live_migration.pre.end", spec, spec.id, states.ACTIVE,
                      states.MIGRATING)
        return found

    def _relay_in(self, instance_id: str, target: MigrationTarget,
                  psk: str) -> dict[str, Any]:
        """The destination's relay for a driver waiting on unix sockets; what the source
        needs to reach it (the target itself for other drivers). The relay checks each
        connection's proof of the move's key (`psk`), as the source's relay gives it."""
        if not target.uri.startswith("unix:"):
            return {k: v for k, v in dataclasses.asdict(target).items() if k != "psk"}
        routes = {MIGRATION: target.uri.removeprefix("unix:")}
        if target.nbd_socket:
            routes[DISK] = target.nbd_socket
        host = self.agent.driver.host_resources().host_ip
        self._close_relay(instance_id)  # of an earlier attempt
        relay = self._relays[instance_id] = Inbound(host, routes, RELAY_SECONDS, key=psk)
        return {"relay": list(relay.address), "disk": bool(target.nbd_socket),
                "nbd_export": target.nbd_export}

    def _close_relay(self, instance_id: str) -> None:
        relay = self._relays.pop(instance_id, None)
        if relay is not None:
            relay.close()

    def finish(self, instance_id: str) -> None:
        """Destination: the guest has arrived."""
        with self.agent._lock(instance_id):
            try:
                self.agent.driver.finish_incoming(instance_id)
            finally:
                self._close_relay(instance_id)

    def abort(self, instance_id: str) -> None:
        """Destination: the move failed or was given up; remove what `prepare` made."""
        with self.agent._lock(instance_id):
            self._close_relay(instance_id)
            self.agent.driver.destroy(instance_id)
            unplug(self.agent.network, self.agent._network_of(instance_id), instance_id)
            self.agent._specs.pop(instance_id, None)

    def send(self, instance_id: str, migration_id: str, dest: str,
             target: dict[str, Any], psk: str = "") -> None:
        """Source (under the instance's lock): send the guest, then report."""
        agent = self.agent
        spec = agent._specs.get(instance_id)
        error, stats, moved = None, {}, None
        try:
            with _relay_out(target, psk) as found:
                moved = agent.driver.live_migrate(instance_id, found, MOVE_SECONDS)
            sent = time.monotonic()
            self.agents.finish_live_migration(dest, instance_id)
            # the guest was paused for qemu's last round and until the destination ran it
            paused_ms = moved.downtime_ms + int((time.monotonic() - sent) * 1000)
            stats = {**dataclasses.asdict(moved), "downtime_ms": paused_ms}
        except (VirtError, BusError, TypeError, OSError) as exc:
            error = f"live migration to {dest} failed: {exc}"
        if error is not None:
            try:
                self.agents.abort_live_migration(dest, instance_id)
            except Exception as exc:
                log.warning("%s: %s did not remove what it prepared for %s: %s",
                            agent.host, dest, instance_id, exc)
            if moved is not None:  # sent, but the destination did not run it: run it here
                try:
                    agent.driver.power_on(instance_id)
                except VirtError as exc:
                    log.warning("%s: cannot resume %s: %s", agent.host, instance_id, exc)
            try:
                running = agent.driver.power_state(instance_id)
            except InstanceNotFound:
                running = None
            log.warning("%s: %s (the guest runs on here: %s)", agent.host, error, running)
        else:
            agent.driver.destroy(instance_id)
            unplug(agent.network, agent._network_of(instance_id), instance_id)
            agent._specs.pop(instance_id, None)
            log.info("%s: instance %s moved to %s in %d ms, paused %d ms", agent.host,
                     instance_id, dest, stats.get("total_ms", 0), stats["downtime_ms"])
        # Nova's legacy names: the source's post-migration step, or its roll-back
        agent._notify("live_migration._rollback.end" if error else "live_migration._post.end",
                      spec, instance_id, states.ACTIVE)
        agent.conductor.live_migration_done(instance_id, migration_id, agent.host, error,
                                            stats)


class LiveMigrationAgent:
    """What the bus delivers to an Agent about live migrations (see LiveMigrationWork)."""

    live_migrations: LiveMigrationWork

    if TYPE_CHECKING:
        def _submit(self, instance_id: str, work: Callable[..., None], *args: Any) -> None: ...

    def prepare_live_migration(self, spec: dict[str, Any], psk: str = "") -> dict[str, Any]:
        return self.live_migrations.prepare(BuildSpec.from_message(spec), psk)

    def live_migrate_instance(self, instance_id: str, migration_id: str, dest: str,
                              target: dict[str, Any], psk: str = "") -> None:
        self._submit(instance_id, self.live_migrations.send, instance_id, migration_id,
                     dest, target, psk)

    def finish_live_migration(self, instance_id: str) -> None:
        self.live_migrations.finish(instance_id)

    def abort_live_migration(self, instance_id: str) -> None:  # also of one never prepared
        self.live_migrations.abort(instance_id)


@contextlib.contextmanager
def _relay_out(target: dict[str, Any], psk: str) -> Iterator[MigrationTarget]:
    """The source's relay to the destination's (`target` from its `prepare`), and the
    target the driver sends to: the relay's unix sockets. None for other drivers."""
    if "relay" not in target:
        yield MigrationTarget(**{**target, "psk": psk})
        return
    host, port = target["relay"]
    streams = [MIGRATION, DISK] if target.get("disk") else [MIGRATION]
    relay = Outbound((str(host), int(port)), streams, RELAY_SECONDS, key=psk)
    with relay:
        yield MigrationTarget(
            uri=f"unix:{relay.paths[MIGRATION]}", nbd_socket=relay.paths.get(DISK, ""),
            nbd_export=str(target.get("nbd_export", "")), psk=psk)
