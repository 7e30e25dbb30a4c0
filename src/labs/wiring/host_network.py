"""How an agent's host networks its VMs, chosen from ``[agent] network_driver``: a
bridge per project network (with DHCP, security groups, floating IPs, the metadata
service and the DNS relay to the cloud's DNS server), qemu's user-mode network, or
none."""

from __future__ import annotations

import logging
from pathlib import Path

from labs.common.bus import Bus
from labs.common.config import ConfigError
from labs.common.runner import Site
from labs.compute.agent.access import ConductorAccessSource
from labs.compute.agent.metadata import ConductorMetadataSource
from labs.compute.config import AgentOptions
from labs.compute.rpcapi import ConductorAPI
from labs.dns.config import DnsOptions
from labs.dns.sink import Naming
from labs.network.agent.dns_relay.relay import RELAY_ADDRESS, RELAY_PORT, DnsRelay, parse_server
from labs.network.agent.drivers.bridge.driver import BridgeDriver
from labs.network.agent.drivers.bridge.host_routers import HostRouters
from labs.network.agent.drivers.bridge.prerequisites import bridge_possible
from labs.network.agent.host import HostNetworking
from labs.network.agent.metadata.server import MetadataServer
from labs.network.config import NetworkOptions
from labs.network.specs import InvalidRequest
from labs.wiring.host_owner import claim

log = logging.getLogger("labs.compute.agent.manager")
#: The records of host-wide kernel objects (namespaces, bridges, dnsmasq) live with
#: them: under /run, by name prefix, gone on reboot as they are, and readable by
#: dnsmasq's unprivileged user (a cloud's data directory is private).
BRIDGE_STATE = Path("/run/labs/network")


def bridge_driver(options: AgentOptions, network: NetworkOptions,
                  metadata_port: int | None = None, dns_relay: bool = False) -> BridgeDriver:
    """The bridge driver of this host's agent (`network_prefix` names its objects); with
    `dns_relay`, the networks' dnsmasq ask the agent's DNS relay what they do not know."""
    upstream = (f"{RELAY_ADDRESS}#{RELAY_PORT}",) if dns_relay else ()
    return BridgeDriver(BRIDGE_STATE / options.network_prefix, prefix=options.network_prefix,
                        external_cidr=network.floating_range, metadata_port=metadata_port,
                        upstream_dns=upstream)


def choose_network_driver(options: AgentOptions) -> str:
    wanted = options.network_driver
    if wanted not in ("auto", "bridge", "user", "none"):
        raise ConfigError(f"[agent] network_driver = {wanted!r}: use auto, bridge, user or "
                          "none")
    if wanted != "auto":
        if wanted == "bridge" and (why := bridge_possible()) is not None:
            raise ConfigError(f"[agent] network_driver = bridge: {why}")
        return wanted
    if options.driver == "fake":
        return "none"
    why = bridge_possible()
    if why is None:
        return "bridge"
    log.info("VMs get qemu's user-mode network: %s", why)
    return "user"


def make_host_networking(site: Site, options: AgentOptions, bus: Bus,
                         dns_server: str = "") -> HostNetworking:
    """The agent's networking (with bridge networks, also the metadata server and, when
    the cloud's DNS server is known, the DNS relay). `dns_server` (HOST:PORT) is where
    the all-in-one's own DNS server answers; ``[network] dns_server`` comes first."""
    kind = choose_network_driver(options)
    log.info("network driver: %s", kind)
    if kind != "bridge":
        return HostNetworking(None)
    claim(BRIDGE_STATE / options.network_prefix, options.network_prefix, site.data_dir)
    network = site.config.group(NetworkOptions)
    relay = dns_relay(network, dns_server, site.config.group(DnsOptions))
    driver = bridge_driver(options, network, options.metadata_port, relay is not None)
    conductor = ConductorAPI(bus)
    metadata = MetadataServer(ConductorMetadataSource(conductor),
                              access=ConductorAccessSource(conductor))

    def serve_network(network_id: str, namespace: str, gateway: str) -> None:
        metadata.add_network(network_id, namespace, gateway, options.metadata_port)
        if relay is not None:
            relay.add_network(network_id, namespace)

    def close() -> None:
        metadata.close()
        if relay is not None:
            relay.close()

    return HostNetworking(driver, serve_network, driver.namespace, close,
                          routers=HostRouters(driver))


def cloud_domains(network: NetworkOptions, dns: DnsOptions) -> list[str]:
    """The domains whose names VMs resolve through the cloud's DNS server: the cloud's
    domain and reverse zones, the project domains, and what the operator adds."""
    naming = Naming.for_ranges(network.dns_domain, [network.fixed_range])
    return list(dict.fromkeys([naming.domain, *naming.reverse_zones,
                               *dns.project_zone_domains, *network.dns_cloud_domains]))


def dns_relay(network: NetworkOptions, dns_server: str = "",
              dns: DnsOptions | None = None) -> DnsRelay | None:
    """The relay from the networks' dnsmasq to the cloud's DNS server (None when no
    server is known), for the names in `cloud_domains`."""
    where = network.dns_server or dns_server
    if not where:
        log.info("VMs resolve only their own network's names: [network] dns_server is not "
                 "set, so the networks cannot ask the cloud's DNS server")
        return None
    try:
        upstream = parse_server(where)
        forwarders = [parse_server(each) for each in network.dns_forwarders]
    except InvalidRequest as exc:
        raise ConfigError(f"[network] dns_server or dns_forwarders: {exc}") from None
    domains = cloud_domains(network, dns or DnsOptions())
    log.info("the networks ask the cloud's DNS server at %s port %d for names in %s%s",
             *upstream, ", ".join(domains),
             f", and {', '.join(network.dns_forwarders)} for others" if forwarders else "")
    return DnsRelay(upstream, forwarders, cloud_domains=domains)
