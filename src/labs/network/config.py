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
        False, "list the network API (Neutron v2.0, served under /network) in the catalog; "
        "off until it serves security groups and floating IPs: while it is listed, the "
        "openstack CLI and openstacksdk send those to it, not to compute's proxies")
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
