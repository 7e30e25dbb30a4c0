"""Ports made, changed and deleted through the API (Neutron's ``/v2.0/ports``).

A port made on a network takes its fixed IPs in the same transaction: those asked for
(a subnet of the network, an address of a subnet's pools, or both), or by default one
from each of the network's subnets, the free one released longest ago. Its MAC is the
one an admin gives or a new ``fa:16:3e`` one, unique on its network. Its security
groups are ids of its project's groups (by default the project's ``default`` one; none
when port security is off); allowed address pairs are kept with it.

Deleting a port gives its addresses back, whatever it is bound to (Neutron's
behaviour: the owner may delete a server's port; the server then has no address on
that network).
"""

from __future__ import annotations

import ipaddress
import random
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.common.errors import BadRequest, Conflict
from labs.network import models
from labs.network.errors import InvalidInput, IpAddressGenerationFailure, PortNotFound
from labs.network.fixed_ips import free_address
from labs.network.floating_ips import FloatingIpRecord
from labs.network.ports import PortRecord, free_ports, records
from labs.network.quotas import NetworkQuotas
from labs.network.security_groups import DEFAULT, SecurityGroups
from labs.network.security_rules import SecurityGroupNotFound
from labs.network.topology import NetworkRecord

if TYPE_CHECKING:
    from labs.network.notices import Notices

Fixed, Port, Group = models.FixedIp, models.Port, models.SecurityGroup
MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
#: What an update may change, and the column each is kept in.
PORT_COLUMNS = {"name": "name", "description": "description",
                "admin_state_up": "admin_state_up", "device_id": "device_id",
                "device_owner": "device_owner", "binding:host_id": "binding_host_id"}


class IpAddressAlreadyAllocated(Conflict):
    neutron_type = "IpAddressAlreadyAllocated"

    def __init__(self, address: str, network_id: str) -> None:
        super().__init__(f"IP address {address} already allocated in subnet on network "
                         f"{network_id}")


class MacAddressInUse(Conflict):
    neutron_type = "MacAddressInUse"

    def __init__(self, mac: str, network_id: str) -> None:
        super().__init__(f"Unable to complete operation for network {network_id}. The mac "
                         f"address {mac} is in use.")


class InvalidIpForNetwork(BadRequest):
    neutron_type = "InvalidIpForNetwork"

    def __init__(self, address: str) -> None:
        super().__init__(f"IP address {address} is not a valid IP for any of the subnets "
                         "on the specified network.")


class InvalidIpForSubnet(BadRequest):
    neutron_type = "InvalidIpForSubnet"

    def __init__(self, address: str) -> None:
        super().__init__(f"IP address {address} is not a valid IP for the specified "
                         "subnet.")


class PortSecurityRequired(BadRequest):
    neutron_type = "PortSecurityAndIPRequiredForSecurityGroups"

    def __init__(self) -> None:
        super().__init__("Port security must be enabled and port must have an IP address "
                         "in order to use security groups.")


class AddressPairAndPortSecurityRequired(Conflict):
    neutron_type = "AddressPairAndPortSecurityRequired"

    def __init__(self) -> None:
        super().__init__("Port Security must be enabled in order to have allowed address "
                         "pairs on a port.")


class PortSecurityPortHasSecurityGroup(Conflict):
    neutron_type = "PortSecurityPortHasSecurityGroup"

    def __init__(self) -> None:
        super().__init__("Port has security group associated. Cannot disable port "
                         "security or IP address until security group is removed.")


def check_mac(value: str) -> str:
    """A unicast MAC, in lower case (400 otherwise)."""
    mac = value.strip().lower().replace("-", ":")
    if not MAC.match(mac) or int(mac[:2], 16) & 1 or mac == "00:00:00:00:00:00":
        raise InvalidInput(f"'{value}' is not a valid unicast MAC address")
    return mac


def check_pairs(pairs: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """Allowed address pairs: an address or CIDR each, with a MAC or not."""
    out: list[dict[str, str]] = []
    for pair in pairs:
        try:
            ip = str(ipaddress.IPv4Network(pair["ip_address"], strict=False))
        except ValueError:
            raise InvalidInput(f"'{pair['ip_address']}' is not a valid IP address or "
                               "CIDR in allowed_address_pairs") from None
        shown = ip.removesuffix("/32").removesuffix("/128")
        out.append({"ip_address": shown, **({"mac_address": check_mac(pair["mac_address"])}
                                            if "mac_address" in pair else {})})
    return out


def _ipv4(value: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise InvalidInput(f"'{value}' is not a valid IPv4 address") from None


class PortChanges:
    def __init__(self, db: Database, security_groups: SecurityGroups,
                 quotas: NetworkQuotas) -> None:
        self.db = db
        self.security_groups = security_groups
        self.quotas = quotas
        #: where each change is told once committed (None: nowhere)
        self.notices: Notices | None = None

    def create(self, network: NetworkRecord, project_id: str,
               asked: Mapping[str, Any]) -> str:
        """A port of `project_id` on `network`, as `asked` (the API's attributes,
        checked for shape), within its ``port`` quota (409 ``OverQuota``): its id."""
        secured = asked.get("port_security_enabled", True)
        if not secured and asked.get("security_groups"):
            raise PortSecurityRequired()
        if not secured and asked.get("allowed_address_pairs"):
            raise AddressPairAndPortSecurityRequired()
        pairs = check_pairs(asked.get("allowed_address_pairs") or [])
        if secured and "security_groups" not in asked:
            self.security_groups.ensure_default(project_id)
        self.quotas.ready(project_id)
        now = _now()
        for _attempt in range(5):
            try:
                with self.db.transaction() as tx:
                    self.quotas.check_create(tx, project_id, "port")
                    port = Port(
                        id=str(uuid.uuid4()), network_id=network.id, project_id=project_id,
                        name=asked.get("name", ""), description=asked.get("description", ""),
                        mac_address=self._mac(tx, network.id, asked.get("mac_address")),
                        device_id=asked.get("device_id", ""),
                        device_owner=asked.get("device_owner", ""),
                        admin_state_up=asked.get("admin_state_up", True), status="DOWN",
                        port_security_enabled=secured,
                        security_groups=self._groups(tx, project_id, asked, secured),
                        allowed_address_pairs=pairs,
                        binding_host_id=asked.get("binding:host_id", ""),
                        auto_delete=False, revision_number=0, created_at=now,
                        updated_at=now)
                    tx.add(port)
                    tx.flush()
                    self._take(tx, network, port, asked.get("fixed_ips"))
                    if self.notices is not None:
                        self.notices.port(tx, "create", port)
                    return port.id
            except IntegrityError:
                if "mac_address" in asked:
                    raise MacAddressInUse(asked["mac_address"], network.id) from None
                continue  # a concurrent create took the MAC or an address: again
        raise Conflict("Could not make the port: too many concurrent changes; try again.")

    @staticmethod
    def _mac(tx: Session, network_id: str, asked: str | None) -> str:
        if asked is not None:
            mac = check_mac(asked)
            if tx.scalar(sa.select(Port.id).where(Port.network_id == network_id,
                                                  Port.mac_address == mac)) is not None:
                raise MacAddressInUse(mac, network_id)
            return mac
        return "fa:16:3e:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))

    @staticmethod
    def _groups(tx: Session, project_id: str, asked: Mapping[str, Any],
                secured: bool) -> list[str]:
        """The ids of the port's groups, each one of its project's (404 otherwise)."""
        if not secured:
            return []
        if "security_groups" not in asked:
            found = tx.scalar(sa.select(Group.id).where(Group.project_id == project_id,
                                                        Group.name == DEFAULT))
            return [found] if found else []
        wanted = list(dict.fromkeys(asked["security_groups"] or []))
        mine = set(tx.scalars(sa.select(Group.id).where(Group.project_id == project_id,
                                                        Group.id.in_(wanted))))
        for group_id in wanted:
            if group_id not in mine:
                raise SecurityGroupNotFound(f"Security group {group_id} does not exist")
        return wanted

    def _take(self, tx: Session, network: NetworkRecord, port: models.Port,
              asked: Sequence[Mapping[str, str]] | None) -> None:
        """Give the port the fixed IPs asked for (by default one of each subnet)."""
        subnets = {s.id: s for s in network.subnets}
        wanted = [{"subnet_id": s} for s in subnets] if asked is None else asked
        addresses = [e["ip_address"] for e in wanted if "ip_address" in e]
        if len(set(addresses)) < len(addresses):
            raise InvalidInput("Duplicate IP address in fixed_ips")
        taken: set[int] = set()
        for entry in wanted:
            subnet_id = entry.get("subnet_id")
            if subnet_id is not None and subnet_id not in subnets:
                raise InvalidInput(f"Failed to create port on network {network.id}, "
                                   f"because fixed_ips included invalid subnet {subnet_id}")
            if "ip_address" in entry:
                fixed_id = self._address(tx, network, entry["ip_address"], subnet_id)
            else:
                where = Fixed.subnet_id == subnet_id if subnet_id else sa.true()
                fixed_id = tx.scalar(free_address(tx, network.id).where(where))
                if fixed_id is None:
                    raise IpAddressGenerationFailure(network.id)
            if fixed_id in taken:
                raise InvalidInput("Duplicate IP address in fixed_ips")
            taken.add(fixed_id)
            tx.execute(sa.update(Fixed).where(Fixed.id == fixed_id).values(
                port_id=port.id, project_id=port.project_id, mac=port.mac_address))

    @staticmethod
    def _address(tx: Session, network: NetworkRecord, address: str,
                 subnet_id: str | None) -> int:
        """The row of `address` on `network` (in `subnet_id` if given), free."""
        ip = _ipv4(address)
        inside = [s for s in network.subnets if ip in ipaddress.IPv4Network(s.cidr)
                  and subnet_id in (None, s.id)]
        if not inside:
            raise InvalidIpForSubnet(address) if subnet_id else InvalidIpForNetwork(address)
        row = tx.scalar(sa.select(Fixed).where(Fixed.subnet_id == inside[0].id,
                                               Fixed.address == str(ip)).with_for_update())
        if row is None:
            raise InvalidInput(f"IP address {address} is not in the allocation pools of "
                               f"subnet {inside[0].id}")
        if row.port_id is not None:
            raise IpAddressAlreadyAllocated(str(ip), network.id)
        return row.id

    def update(self, port_id: str, changes: Mapping[str, Any]) -> None:
        """Change the port's name, description, state, binding, groups, pairs (port
        security goes off only for a port left without groups and pairs: Neutron's
        400 or 409 otherwise)."""
        with self.db.transaction() as tx:
            row = tx.get(Port, port_id, with_for_update=True)
            if row is None:
                raise PortNotFound(port_id)
            secured = changes.get("port_security_enabled", row.port_security_enabled)
            groups = changes.get("security_groups", row.security_groups) or []
            pairs = changes.get("allowed_address_pairs", row.allowed_address_pairs) or []
            if not secured and groups:
                raise PortSecurityRequired() if "security_groups" in changes \
                    else PortSecurityPortHasSecurityGroup()
            if not secured and pairs:
                raise AddressPairAndPortSecurityRequired()
            if "security_groups" in changes:
                groups = self._groups(tx, row.project_id, changes, secured)
            for name, column in PORT_COLUMNS.items():
                if name in changes:
                    setattr(row, column, changes[name])
            row.port_security_enabled = secured
            row.security_groups = list(groups)
            row.allowed_address_pairs = check_pairs(pairs)
            row.revision_number += 1
            row.updated_at = _now()
            if self.notices is not None:
                self.notices.port(tx, "update", row)

    def delete(self, port_id: str) -> PortRecord:
        """The port goes (as it was, returned: bound to a server only if it held that
        server's addresses); its addresses go back to their networks, and the floating
        IPs on them are taken from its server (Neutron's)."""
        with self.db.transaction() as tx:
            row = tx.get(Port, port_id, with_for_update=True)
            if row is None:
                raise PortNotFound(port_id)
            (gone,) = records(tx, [row])
            if gone.instance_id is not None and tx.scalar(
                    sa.select(Fixed.id).where(Fixed.port_id == port_id,
                                              Fixed.instance_id == gone.instance_id)
                    .limit(1)) is None:  # only names a server: bound to none
                gone = replace(gone, device_id="", device_owner="")
            if self.notices is not None:
                self.notices.port(tx, "delete", row)
            if gone.instance_id is not None:
                self._unfloat(tx, gone)
            free_ports(tx, [port_id])
            return gone

    def _unfloat(self, tx: Session, port: PortRecord) -> None:
        """Take the floating IPs forwarded to the port's addresses from its server."""
        for row in tx.scalars(sa.select(models.FloatingIp).where(
                models.FloatingIp.instance_id == port.instance_id,
                models.FloatingIp.fixed_ip.in_([a for _, a in port.fixed_ips]))
                .with_for_update()):
            row.instance_id = row.fixed_ip = None
            row.updated_at = _now()
            row.revision_number += 1
            if self.notices is not None:
                self.notices.floatingip(tx, "update", FloatingIpRecord.of(row))


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
