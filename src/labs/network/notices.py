"""What the network service tells listeners outside it (the DNS sink names floating IPs
from them): Neutron's notifications, with Neutron's event types and payloads, on the bus
compute's ``compute.instance.*`` notifications travel, from ``network.<host>``.

- ``floatingip.create.end`` / ``update.end``: ``{"floatingip": <the API's view>}``;
  ``floatingip.delete.end``: ``{"floatingip_id": id, "floatingip": <the view before>}``;
- ``security_group.create.end`` / ``delete.end`` and ``security_group_rule.create.end`` /
  ``delete.end``, shaped the same way;
- ``network.*``, ``subnet.*``, ``port.*`` and ``router.*`` (``create.end`` /
  ``update.end`` / ``delete.end``), shaped the same way (``{"port": ...}``; a port's view
  with its ``binding:host_id``), and ``router.interface.create`` / ``.delete``:
  ``{"router_interface": <the API's answer to the interface change>}``.

The writes that change these rows (`FloatingIps`, `SecurityGroups`, `Networks`,
`Routers`, `PortChanges`, the nova-network proxies over them) hand their payload to
`Notices.after_commit` inside their transaction: it is sent once the transaction
commits, and never for one rolled back. A failure to send is logged, not raised: the
change has happened either way.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.bus import Bus
from labs.network import models
from labs.network.api import views
from labs.network.floating_ips import FloatingIpRecord, floating_id_of
from labs.network.ports import records
from labs.network.routers import InterfaceRecord, RouterRecord, gateway_routers
from labs.network.security_rules import GroupRecord, RuleRecord
from labs.network.topology import NetworkRecord, SubnetRecord

log = logging.getLogger("labs.network.notices")

PUBLISHER_PREFIX = "network."


class Notices:
    """Sends the network's notifications on `bus` (`external`: the network floating IPs
    are shown on, and routers' gateways)."""

    def __init__(self, bus: Bus, external: NetworkRecord, host: str | None = None) -> None:
        self.bus = bus
        self.external = external
        self.external_network_id = external.id
        self.publisher_id = PUBLISHER_PREFIX + (host or socket.gethostname())

    def after_commit(self, tx: Session, event_type: str, payload: dict[str, Any]) -> None:
        """Send the notification once `tx` commits (nothing if it rolls back)."""
        sa.event.listen(tx, "after_commit", lambda _session: self.send(event_type, payload),
                        once=True)

    def send(self, event_type: str, payload: dict[str, Any]) -> None:
        try:
            self.bus.notify(event_type, payload, publisher_id=self.publisher_id)
        except Exception as exc:
            log.warning("%s: could not send %s: %s", self.publisher_id, event_type, exc)

    # -- what changed ----------------------------------------------------------------
    def floatingip(self, tx: Session, action: str, record: FloatingIpRecord) -> None:
        """``floatingip.<action>.end`` for `record` as it is after the change (as it
        was, for ``delete``)."""
        ident = floating_id_of(record.id)
        routers = gateway_routers(tx, [record.instance_id] if record.instance_id else [])
        view = views.floatingip(record, ident, self.external_network_id,
                                routers.get(record.instance_id or ""))
        self.after_commit(tx, f"floatingip.{action}.end", _payload("floatingip", action,
                                                                   ident, view))

    def security_group(self, tx: Session, action: str, group: GroupRecord) -> None:
        self.after_commit(tx, f"security_group.{action}.end", _payload(
            "security_group", action, group.id, security_group_view(group)))

    def security_group_rule(self, tx: Session, action: str, rule: RuleRecord) -> None:
        self.after_commit(tx, f"security_group_rule.{action}.end", _payload(
            "security_group_rule", action, rule.id, security_group_rule_view(rule)))

    def network(self, tx: Session, action: str, row: models.Network) -> None:
        """``network.<action>.end`` for `row` as it is now (as it was, for ``delete``:
        call before deleting it)."""
        tx.flush()
        subnets = list(tx.scalars(sa.select(models.Subnet).where(
            models.Subnet.network_id == row.id).order_by(models.Subnet.created_at)))
        view = views.network(NetworkRecord.of(row, subnets))
        self._tagged(tx, "networks", view)
        self.after_commit(tx, f"network.{action}.end", _payload("network", action, row.id,
                                                                view))

    def subnet(self, tx: Session, action: str, row: models.Subnet) -> None:
        tx.flush()
        view = views.subnet(SubnetRecord.of(row))
        self._tagged(tx, "subnets", view)
        self.after_commit(tx, f"subnet.{action}.end", _payload("subnet", action, row.id,
                                                               view))

    def port(self, tx: Session, action: str, row: models.Port) -> None:
        tx.flush()
        (record,) = records(tx, [row])
        self.after_commit(tx, f"port.{action}.end", _payload(
            "port", action, row.id, views.port(record, admin=True)))

    def router(self, tx: Session, action: str, row: models.Router) -> None:
        tx.flush()
        view = views.router(RouterRecord.of(row, []), self.external)
        self.after_commit(tx, f"router.{action}.end", _payload("router", action, row.id,
                                                               view))

    def router_interface(self, tx: Session, action: str, row: models.Router,
                         interface: InterfaceRecord) -> None:
        """``router.interface.<action>`` (``create``, ``delete``): Neutron's
        ``{"router_interface": ...}``, the API's answer to the change."""
        self.after_commit(tx, f"router.interface.{action}", {"router_interface": {
            "id": row.id, "tenant_id": row.project_id, "project_id": row.project_id,
            "port_id": interface.id, "network_id": interface.network_id,
            "subnet_id": interface.subnet_id, "subnet_ids": [interface.subnet_id]}})

    @staticmethod
    def _tagged(tx: Session, kind: str, view: dict[str, Any]) -> None:
        view["tags"] = list(tx.scalars(sa.select(models.ResourceTag.tag).where(
            models.ResourceTag.resource_type == kind,
            models.ResourceTag.resource_id == view["id"]).order_by(models.ResourceTag.tag)))


def _payload(resource: str, action: str, ident: str, view: dict[str, Any]
             ) -> dict[str, Any]:
    """Neutron's: the view, and for a delete the id beside it."""
    if action == "delete":
        return {f"{resource}_id": ident, resource: view}
    return {resource: view}


def security_group_view(group: GroupRecord) -> dict[str, Any]:
    """A group as Neutron shows it, with its rules."""
    return {"id": group.id, "name": group.name, "description": group.description,
            "stateful": group.stateful, "shared": False,
            "security_group_rules": [security_group_rule_view(r) for r in group.rules],
            **_owned(group.project_id, group.revision_number, group.created_at,
                     group.updated_at)}


def security_group_rule_view(rule: RuleRecord) -> dict[str, Any]:
    return {"id": rule.id, "security_group_id": rule.group_id,
            "direction": rule.direction, "ethertype": rule.ethertype,
            "protocol": rule.protocol, "port_range_min": rule.port_range_min,
            "port_range_max": rule.port_range_max,
            "remote_ip_prefix": rule.remote_ip_prefix,
            "normalized_cidr": rule.remote_ip_prefix,
            "remote_group_id": rule.remote_group_id, "remote_address_group_id": None,
            "description": rule.description,
            **_owned(rule.project_id, rule.revision_number, rule.created_at,
                     rule.updated_at)}


def _owned(project_id: str, revision: int, created: Any, updated: Any) -> dict[str, Any]:
    return {"project_id": project_id, "tenant_id": project_id, "tags": [],
            "revision_number": revision, "created_at": views.timestamp(created),
            "updated_at": views.timestamp(updated)}
