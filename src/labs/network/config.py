"""Network options (section ``[network]`` of labs.conf, or ``LABS_NETWORK_*``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from labs.common.config import option


@dataclass(frozen=True)
class NetworkOptions:
    section: ClassVar[str] = "network"
    fixed_range: str = option("10.68.0.0/16", "the pool project networks are carved from")
    network_prefix: int = option(24, "size of each project's network (prefix length)")
    label: str = option("lan", "the network's name in a server's addresses")
    dns_domain: str = option("labs.internal",
                             "the cloud's domain: a VM is <name>.<project>.<domain>")
    floating_range: str = option("172.24.4.0/24",
                                 "the public side: floating IPs and the networks' uplinks")
    floating_pool: str = option("public", "the name of the floating IP pool")
    api_in_catalog: bool = option(
        True, "list the network API (Neutron v2.0, served under /network) in the catalog: "
        "the openstack CLI and openstacksdk then send security groups, floating IPs and "
        "quotas to it (off: they use compute's nova-network proxies, and the API is still "
        "served for clients that know where it is)")
    ssh_from: str = option("", "where a new project's default group lets TCP 22 in from; "
                               "empty: the fixed range")
    dns_server: str = option("", "HOST:PORT of the authoritative server for the cloud's "
                             "zones, which the networks' dnsmasq ask (through the agent) "
                             "for names beyond their own network's; empty: labs up's own "
                             "DNS server, and an agent on its own then leaves each network "
                             "with only its own names")
    dns_forwarders: list[str] = option([], "resolvers (HOST[:PORT], reachable from the "
                                       "host) the networks ask for names outside the "
                                       "cloud's domains; none: VMs get REFUSED for those")
    dns_cloud_domains: list[str] = option(
        [], "more domains whose names the networks ask the cloud's DNS server for (e.g. "
        "zones admins made outside dns_domain and [dns] project_zone_domains); every "
        "other name goes to the forwarders")
    # default quotas per project (Neutron's names; admins change them per project, through
    # /v2.0/quotas or, for the last three, compute's legacy os-quota-sets keys)
    quota_network: int = option(100, "default quota: networks per project")
    quota_subnet: int = option(100, "default quota: subnets per project")
    quota_port: int = option(500, "default quota: ports per project")
    quota_router: int = option(10, "default quota: routers per project")
    quota_floatingip: int = option(10, "default quota: floating IPs per project")
    quota_security_group: int = option(10, "default quota: security groups per project "
                                       "(its default group counts)")
    quota_security_group_rule: int = option(100, "default quota: security group rules per "
                                            "project (in all its groups)")
