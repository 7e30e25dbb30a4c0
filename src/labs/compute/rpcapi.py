"""What compute's parts say to each other over the bus: one method per message, the
same name at both ends (``ConductorAPI.build_instances`` -> ``Conductor.build_instances``),
the topics they are served on, the names services heartbeat under, and the
``compute.instance.*`` notifications that listeners outside compute (the DNS sink) read.

Casts are durable and delivered at least once, so every receiver is idempotent.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from labs.common.bus import Bus
from labs.compute.payloads import BuildSpec, ExpectedInstance

if TYPE_CHECKING:
    from labs.compute import models

log = logging.getLogger("labs.compute.rpcapi")

# the topics
CONDUCTOR = "conductor"
SCHEDULER = "scheduler"
AGENT = "compute"  # each agent also listens on compute.<host>

# the binaries services heartbeat under (Nova's names, which clients show)
AGENT_BINARY = "nova-compute"
CONDUCTOR_BINARY = "nova-conductor"
SCHEDULER_BINARY = "nova-scheduler"

NOTIFICATION_PREFIX = "compute.instance."


def is_up(service: models.Service, down_before: datetime) -> bool:
    """A service is up while its heartbeats (:meth:`ConductorAPI.heartbeat`) arrive:
    one came after ``down_before``, and no admin forced it down."""
    return (not service.forced_down and service.last_seen is not None
            and service.last_seen >= down_before)


def notify_instance(bus: Bus, event: str, payload: dict[str, Any], publisher_id: str) -> None:
    """Send ``compute.instance.<event>`` (Nova's legacy notification). A failure is
    logged, not raised: the operation it reports has happened either way."""
    try:
        bus.notify(NOTIFICATION_PREFIX + event, payload, publisher_id=publisher_id)
    except Exception as exc:
        log.warning("%s: could not send %s%s about %s: %s", publisher_id,
                    NOTIFICATION_PREFIX, event, payload.get("instance_id"), exc)


class ConductorAPI:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    def build_instances(self, instance_ids: list[str]) -> None:
        self.bus.cast(CONDUCTOR, "build_instances", instance_ids=instance_ids)

    def build_done(self, instance_id: str, host: str, error: str | None = None,
                   power_state: int = 0, addresses: dict[str, Any] | None = None) -> None:
        self.bus.cast(CONDUCTOR, "build_done", instance_id=instance_id, host=host,
                      error=error, power_state=power_state, addresses=addresses or {})

    def action_done(self, instance_id: str, host: str, action: str, power_state: int,
                    error: str | None = None) -> None:
        self.bus.cast(CONDUCTOR, "action_done", instance_id=instance_id, host=host,
                      action=action, power_state=power_state, error=error)

    # -- resizes and cold migrations (see conductor.moves) --------------------------------
    def migrate_server(self, instance_id: str, migration_id: str,
                       timeout: float = 60.0) -> str | None:
        """Find and claim the destination of the migration the API recorded, and start
        it; None, or why no host fits (the move is then given up)."""
        result: str | None = self.bus.call(CONDUCTOR, "migrate_server", timeout=timeout,
                                           instance_id=instance_id, migration_id=migration_id)
        return result

    def migrated_out(self, instance_id: str, migration_id: str, host: str, source: str,
                     error: str | None = None) -> None:
        self.bus.cast(CONDUCTOR, "migrated_out", instance_id=instance_id,
                      migration_id=migration_id, host=host, source=source, error=error)

    def migrated_in(self, instance_id: str, migration_id: str, host: str, power_state: int,
                    error: str | None = None) -> None:
        self.bus.cast(CONDUCTOR, "migrated_in", instance_id=instance_id,
                      migration_id=migration_id, host=host, power_state=power_state,
                      error=error)

    def migration_confirmed(self, instance_id: str, migration_id: str, host: str,
                            error: str | None = None) -> None:
        self.bus.cast(CONDUCTOR, "migration_confirmed", instance_id=instance_id,
                      migration_id=migration_id, host=host, error=error)

    def migration_dropped(self, instance_id: str, migration_id: str, host: str,
                          error: str | None = None) -> None:
        """The destination of a reverted move no longer has the instance."""
        self.bus.cast(CONDUCTOR, "migration_dropped", instance_id=instance_id,
                      migration_id=migration_id, host=host, error=error)

    def migration_reverted(self, instance_id: str, migration_id: str, host: str,
                           power_state: int, error: str | None = None) -> None:
        self.bus.cast(CONDUCTOR, "migration_reverted", instance_id=instance_id,
                      migration_id=migration_id, host=host, power_state=power_state,
                      error=error)

    def power_state_seen(self, instance_id: str, host: str, power_state: int) -> None:
        self.bus.cast(CONDUCTOR, "power_state_seen", instance_id=instance_id, host=host,
                      power_state=power_state)

    def instance_deleted(self, instance_id: str, host: str) -> None:
        self.bus.cast(CONDUCTOR, "instance_deleted", instance_id=instance_id, host=host)

    def live_migrate_instance(self, instance_id: str, migration_id: str,
                              host: str | None, force: bool = False) -> None:
        """Move the running server to ``host`` (None: the scheduler picks one; ``force``:
        no filters but room, as Nova's forced live migration)."""
        self.bus.cast(CONDUCTOR, "live_migrate_instance", instance_id=instance_id,
                      migration_id=migration_id, host=host, force=force)

    def live_migration_done(self, instance_id: str, migration_id: str, host: str,
                            error: str | None = None,
                            stats: dict[str, int] | None = None) -> None:
        """The source ``host`` says how the live migration went (``stats``: see
        MigrationStats)."""
        self.bus.cast(CONDUCTOR, "live_migration_done", instance_id=instance_id,
                      migration_id=migration_id, host=host, error=error, stats=stats or {})

    def register_agent(self, host: str, zone: str, resources: dict[str, Any],
                       timeout: float = 30.0) -> list[ExpectedInstance]:
        """Record the agent and its hypervisor; returns the instances the cloud
        expects on that host, for the agent to reconcile with what it runs."""
        result: list[dict[str, Any]] = self.bus.call(
            CONDUCTOR, "register_agent", timeout=timeout, host=host, zone=zone,
            resources=resources)
        return [ExpectedInstance.from_message(message) for message in result]

    def heartbeat(self, host: str, binary: str,
                  resources: dict[str, Any] | None = None) -> None:
        """Alive; an agent also sends its host resources (see HostResources), so the
        scheduler sees its memory as it is now."""
        if resources is None:
            self.bus.cast(CONDUCTOR, "heartbeat", host=host, binary=binary)
        else:
            self.bus.cast(CONDUCTOR, "heartbeat", host=host, binary=binary,
                          resources=resources)

    def instance_metadata(self, network_id: str, fixed_ip: str,
                          timeout: float = 5.0) -> dict[str, Any] | None:
        """What the metadata service tells the instance at `fixed_ip` on `network_id`."""
        result: dict[str, Any] | None = self.bus.call(
            CONDUCTOR, "instance_metadata", network_id=network_id, fixed_ip=fixed_ip,
            timeout=timeout)
        return result

    def project_access(self, project_id: str, timeout: float = 2.0) -> dict[str, Any] | None:
        """Who may log into the project's VMs (identity's access record, as a dict), or
        None for no such project."""
        result: dict[str, Any] | None = self.bus.call(
            CONDUCTOR, "project_access", project_id=project_id, timeout=timeout)
        return result

    def network_specs(self, instance_ids: list[str],
                      timeout: float = 30.0) -> dict[str, dict[str, Any]]:
        """What an agent plugs for these instances now (address, rules, floating IPs)."""
        result: dict[str, dict[str, Any]] = self.bus.call(
            CONDUCTOR, "network_specs", instance_ids=instance_ids, timeout=timeout)
        return result

    def list_live_instances(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Every instance not deleted that has a fixed address: ``{"id", "hostname",
        "project_name", "addresses", "floating"}`` (its fixed and its floating IPs; for the
        DNS sink's reconciler)."""
        result: list[dict[str, Any]] = self.bus.call(CONDUCTOR, "list_live_instances",
                                                     timeout=timeout)
        return result

    def list_floating_ips(self, project_id: str | None, timeout: float = 30.0
                          ) -> list[dict[str, Any]]:
        """The floating IPs allocated to `project_id` (to any project when None):
        ``{"id", "address", "project_id"}`` each, ``id`` the network API's (for the DNS
        service's floating IP PTR records)."""
        result: list[dict[str, Any]] = self.bus.call(CONDUCTOR, "list_floating_ips",
                                                     timeout=timeout, project_id=project_id)
        return result

    def unshelve_instance(self, instance_id: str, image_url: str, token: str) -> None:
        """Schedule an offloaded instance again and have its new host boot it from its
        shelved image (deleted there once it runs, with the caller's token)."""
        self.bus.cast(CONDUCTOR, "unshelve_instance", instance_id=instance_id,
                      image_url=image_url, token=token)

    def shelve_done(self, instance_id: str, host: str, power_state: int, offloaded: bool,
                    error: str | None = None) -> None:
        self.bus.cast(CONDUCTOR, "shelve_done", instance_id=instance_id, host=host,
                      power_state=power_state, offloaded=offloaded, error=error)

    def unshelve_done(self, instance_id: str, host: str, power_state: int,
                      error: str | None = None) -> None:
        self.bus.cast(CONDUCTOR, "unshelve_done", instance_id=instance_id, host=host,
                      power_state=power_state, error=error)

    def event_done(self, instance_id: str, host: str, action: str, event: str,
                   error: str | None = None) -> None:
        """One step of an action that changes no state (a crash dump) is over."""
        self.bus.cast(CONDUCTOR, "event_done", instance_id=instance_id, host=host,
                      action=action, event=event, error=error)


class SchedulerAPI:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    def select_destinations(self, instance_ids: list[str],
                            timeout: float = 60.0) -> dict[str, dict[str, str]]:
        """For each instance: ``{"host": ..., "node": ...}`` (claimed) or
        ``{"error": why no host fits}``."""
        result: dict[str, dict[str, str]] = self.bus.call(
            SCHEDULER, "select_destinations", timeout=timeout, instance_ids=instance_ids)
        return result

    def select_move_destination(self, instance_id: str, migration_id: str,
                                timeout: float = 60.0) -> dict[str, str]:
        """Claim room for the migration's new flavor on a host (the instance's claim
        on its host passes to the migration): ``{"host", "node"}`` or ``{"error"}``."""
        result: dict[str, str] = self.bus.call(
            SCHEDULER, "select_move_destination", timeout=timeout, instance_id=instance_id,
            migration_id=migration_id)
        return result


    def select_for_move(self, instance_id: str, consumer_id: str, host: str | None,
                        force: bool = False, timeout: float = 60.0) -> dict[str, str]:
        """A host other than the server's own for it to move to (``host`` when given),
        claimed for ``consumer_id`` (the migration): ``{"host", "node"}`` or
        ``{"error"}``."""
        result: dict[str, str] = self.bus.call(
            SCHEDULER, "select_for_move", timeout=timeout, instance_id=instance_id,
            consumer_id=consumer_id, host=host, force=force)
        return result


class AgentAPI:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    def build_instance(self, host: str, spec: BuildSpec) -> None:
        self.bus.cast(AGENT, "build_instance", server=host, spec=spec.to_message())

    def reboot_instance(self, host: str, instance_id: str, hard: bool) -> None:
        self.bus.cast(AGENT, "reboot_instance", server=host, instance_id=instance_id, hard=hard)

    def rebuild_instance(self, host: str, spec: BuildSpec) -> None:
        self.bus.cast(AGENT, "rebuild_instance", server=host, spec=spec.to_message())

    def snapshot_instance(self, host: str, instance_id: str, image_id: str, image_url: str,
                          token: str) -> None:
        """The agent uploads the snapshot to the image API with the caller's token."""
        self.bus.cast(AGENT, "snapshot_instance", server=host, instance_id=instance_id,
                      image_id=image_id, image_url=image_url, token=token)

    def shelve_instance(self, host: str, instance_id: str, image_id: str, image_url: str,
                        token: str, offload: bool) -> None:
        """Power off, snapshot into the shelved image, and offload when ``offload``."""
        self.bus.cast(AGENT, "shelve_instance", server=host, instance_id=instance_id,
                      image_id=image_id, image_url=image_url, token=token, offload=offload)

    def shelve_offload_instance(self, host: str, instance_id: str) -> None:
        self.bus.cast(AGENT, "shelve_offload_instance", server=host, instance_id=instance_id)

    def unshelve_instance(self, host: str, instance_id: str, image_url: str, token: str,
                          image_id: str | None, spec: BuildSpec | None = None) -> None:
        """Start the shelved instance again: power it on when the host still has it,
        else boot ``spec`` (whose image is the shelved one); then delete image
        ``image_id``."""
        self.bus.cast(AGENT, "unshelve_instance", server=host, instance_id=instance_id,
                      image_url=image_url, token=token, image_id=image_id,
                      spec=spec.to_message() if spec is not None else None)

    def backup_instance(self, host: str, instance_id: str, image_id: str, image_url: str,
                        token: str, backup_type: str, rotation: int) -> None:
        self.bus.cast(AGENT, "backup_instance", server=host, instance_id=instance_id,
                      image_id=image_id, image_url=image_url, token=token,
                      backup_type=backup_type, rotation=rotation)

    def trigger_crash_dump(self, host: str, instance_id: str) -> None:
        self.bus.cast(AGENT, "trigger_crash_dump", server=host, instance_id=instance_id)

    def stop_instance(self, host: str, instance_id: str) -> None:
        self.bus.cast(AGENT, "stop_instance", server=host, instance_id=instance_id)

    def start_instance(self, host: str, instance_id: str) -> None:
        self.bus.cast(AGENT, "start_instance", server=host, instance_id=instance_id)

    def pause_instance(self, host: str, instance_id: str) -> None:
        self.bus.cast(AGENT, "pause_instance", server=host, instance_id=instance_id)

    def unpause_instance(self, host: str, instance_id: str) -> None:
        self.bus.cast(AGENT, "unpause_instance", server=host, instance_id=instance_id)

    def migrate_out(self, host: str, instance_id: str, migration_id: str) -> None:
        self.bus.cast(AGENT, "migrate_out", server=host, instance_id=instance_id,
                      migration_id=migration_id)

    def migrate_in(self, host: str, spec: BuildSpec, migration_id: str, source: str,
                   power_on: bool) -> None:
        self.bus.cast(AGENT, "migrate_in", server=host, spec=spec.to_message(),
                      migration_id=migration_id, source=source, power_on=power_on)

    def confirm_migration(self, host: str, instance_id: str, migration_id: str,
                          unplug: bool) -> None:
        """The source drops the copy it kept (and the ports, when they moved away)."""
        self.bus.cast(AGENT, "confirm_migration", server=host, instance_id=instance_id,
                      migration_id=migration_id, unplug=unplug)

    def drop_migration(self, host: str, instance_id: str, migration_id: str,
                       unplug: bool) -> None:
        """The destination of a reverted move destroys its copy."""
        self.bus.cast(AGENT, "drop_migration", server=host, instance_id=instance_id,
                      migration_id=migration_id, unplug=unplug)

    def revert_migration(self, host: str, spec: BuildSpec, migration_id: str,
                         power_on: bool) -> None:
        self.bus.cast(AGENT, "revert_migration", server=host, spec=spec.to_message(),
                      migration_id=migration_id, power_on=power_on)

    def refresh_network(self, host: str, instance_ids: list[str]) -> None:
        """Security rules or floating IPs of these instances changed: the agent asks the
        conductor for their network specs and applies them."""
        self.bus.cast(AGENT, "refresh_network", server=host, instance_ids=instance_ids)

    def delete_instance(self, host: str, instance_id: str) -> None:
        self.bus.cast(AGENT, "delete_instance", server=host, instance_id=instance_id)

    def attach_interface(self, host: str, instance_id: str, port: dict[str, Any],
                         timeout: float = 90.0) -> None:
        """The agent plugs the port (an `InstancePort` message) and gives the VM its
        NIC; returns once it has (RemoteError when it could not)."""
        self.bus.call(AGENT, "attach_interface", server=host, timeout=timeout,
                      instance_id=instance_id, port=port)

    def detach_interface(self, host: str, instance_id: str, port_id: str,
                         timeout: float = 90.0) -> None:
        """The agent takes the NIC of the port (by the id its host knows it by) from the
        VM and unplugs it."""
        self.bus.call(AGENT, "detach_interface", server=host, timeout=timeout,
                      instance_id=instance_id, port_id=port_id)

    def prepare_live_migration(self, host: str, spec: BuildSpec,
                               timeout: float = 120.0) -> dict[str, Any]:
        """The destination plugs the server's ports and waits for its guest; returns
        where to send it (a MigrationTarget as a dict)."""
        result: dict[str, Any] = self.bus.call(AGENT, "prepare_live_migration", server=host,
                                               timeout=timeout, spec=spec.to_message())
        return result

    def live_migrate_instance(self, host: str, instance_id: str, migration_id: str,
                              dest: str, target: dict[str, Any]) -> None:
        """The source sends the running guest to ``dest``, then reports to the conductor."""
        self.bus.cast(AGENT, "live_migrate_instance", server=host, instance_id=instance_id,
                      migration_id=migration_id, dest=dest, target=target)

    def finish_live_migration(self, host: str, instance_id: str,
                              timeout: float = 90.0) -> None:
        """The guest has arrived at the destination ``host``: it runs there."""
        self.bus.call(AGENT, "finish_live_migration", server=host, timeout=timeout,
                      instance_id=instance_id)

    def abort_live_migration(self, host: str, instance_id: str,
                             timeout: float = 90.0) -> None:
        """The move failed: the destination ``host`` removes what it prepared."""
        self.bus.call(AGENT, "abort_live_migration", server=host, timeout=timeout,
                      instance_id=instance_id)

    def console_output(self, host: str, instance_id: str, length: int | None,
                       timeout: float = 15.0) -> str:
        result: str = self.bus.call(AGENT, "console_output", server=host, timeout=timeout,
                                    instance_id=instance_id, length=length)
        return result
