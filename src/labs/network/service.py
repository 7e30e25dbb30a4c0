"""The network service as the compute API, the conductor and the network API see it:
project networks and fixed IPs, security groups, floating IPs (nova-network's model),
over the compute database."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from labs.common.config import ConfigError
from labs.common.db import Database, upgrade
from labs.common.names import dns_label
from labs.network.config import NetworkOptions
from labs.network.fixed_ips import FixedIps
from labs.network.floating_ips import FloatingIps
from labs.network.networks import Networks
from labs.network.port_changes import PortChanges
from labs.network.ports import Ports
from labs.network.quotas import NetworkQuotas, count_networks, count_ports, count_subnets
from labs.network.routers import Routers, count_routers
from labs.network.security_groups import SecurityGroups
from labs.network.tags import Tags
from labs.network.topology import Topology

if TYPE_CHECKING:
    from labs.network.notices import Notices


class NetworkService:
    """`cloud_project_id` owns the external network the network API shows."""

    def __init__(self, db: Database, options: NetworkOptions, cloud_project_id: str = "") -> None:
        self.db = db
        self.options = options
        try:
            pool = ipaddress.IPv4Network(options.fixed_range)
            public = ipaddress.IPv4Network(options.floating_range)
            ssh_from = str(ipaddress.IPv4Network(options.ssh_from or options.fixed_range,
                                                 strict=False))
        except ValueError as exc:
            raise ConfigError(f"[network]: {exc}") from None
        if not pool.prefixlen < options.network_prefix <= 29:
            raise ConfigError(f"[network] network_prefix {options.network_prefix} must be "
                              f"longer than fixed_range's /{pool.prefixlen} and at most 29")
        if pool.overlaps(public):
            raise ConfigError(f"[network] fixed_range {pool} overlaps floating_range {public}")
        self.fixed_ips = FixedIps(options, public)
        self.security_groups = SecurityGroups(db, ssh_from)
        self.floating_ips = FloatingIps(db, options.floating_pool, public)
        self.topology = Topology(db, options, cloud_project_id)
        self.ports = Ports(db)
        self.tags = Tags(db)
        self.quotas = NetworkQuotas(db, options, {
            "network": count_networks, "subnet": count_subnets, "port": count_ports,
            "router": count_routers, "floatingip": self.floating_ips.count,
            "security_group": self.security_groups.count,
            "security_group_rule": self.security_groups.count_rules})
        self.networks = Networks(db, self.fixed_ips, self.quotas)
        self.routers = Routers(db, self.fixed_ips, self.quotas)
        self.port_changes = PortChanges(db, self.security_groups, self.quotas)

    def tell(self, notices: Notices) -> None:
        """Send the notifications of floating IP, security group, network, subnet,
        port and router changes through `notices` from now on."""
        for part in (self.floating_ips, self.security_groups, self.networks, self.routers,
                     self.port_changes):
            part.notices = notices

    def prepare(self) -> None:
        """Migrate the schema and fill the floating IP pool."""
        upgrade(self.db, "network")
        self.floating_ips.ensure_pool()

    def dns_domain(self, project_name: str) -> str:
        """The project's domain: ``<project>.<domain>`` (the project's name as a DNS
        label: lower case, other characters than letters, digits and '-' dropped)."""
        label = dns_label(project_name)
        return f"{label}.{self.options.dns_domain}" if label else self.options.dns_domain
