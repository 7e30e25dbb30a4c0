"""How an agent's host networks its VMs, chosen from ``[agent] network_driver``: a
bridge per project network (with DHCP, security groups, floating IPs and the metadata
service), qemu's user-mode network, or none."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from labs.common.bus import Bus
from labs.common.config import ConfigError
from labs.common.runner import Site
from labs.compute.agent_network import HostNetworking
from labs.compute.config import AgentOptions
from labs.compute.metadata_lookup import ConductorMetadataSource
from labs.compute.rpcapi import ConductorAPI
from labs.network.config import NetworkOptions
from labs.network.drivers.bridge import BridgeDriver
from labs.network.metadata import MetadataServer

log = logging.getLogger("labs.compute.agent")
BRIDGE_TOOLS = ("ip", "nft", "dnsmasq")
#: The records of host-wide kernel objects (namespaces, bridges, dnsmasq) live with
#: them: under /run, by name prefix, gone on reboot as they are, and readable by
#: dnsmasq's unprivileged user (a cloud's data directory is private).
BRIDGE_STATE = Path("/run/labs/network")


def bridge_driver(options: AgentOptions, network: NetworkOptions,
                  metadata_port: int | None = None) -> BridgeDriver:
    """The bridge driver of this host's agent (`network_prefix` names its objects)."""
    return BridgeDriver(BRIDGE_STATE / options.network_prefix, prefix=options.network_prefix,
                        external_cidr=network.floating_range, metadata_port=metadata_port)


def bridge_possible() -> str | None:
    """Why this host cannot run bridge networks (None: it can)."""
    if os.geteuid() != 0:
        return "bridge networks need root"
    missing = [tool for tool in BRIDGE_TOOLS if shutil.which(tool) is None]
    if missing:
        return f"bridge networks need {', '.join(missing)} (Debian: iproute2, nftables, " \
               "dnsmasq-base)"
    return None


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


def make_host_networking(site: Site, options: AgentOptions, bus: Bus) -> HostNetworking:
    """The agent's networking (with bridge networks, also the metadata server)."""
    kind = choose_network_driver(options)
    log.info("network driver: %s", kind)
    if kind != "bridge":
        return HostNetworking(None)
    network = site.config.group(NetworkOptions)
    driver = bridge_driver(options, network, options.metadata_port)
    metadata = MetadataServer(ConductorMetadataSource(ConductorAPI(bus)))

    def serve_metadata(network_id: str, namespace: str, gateway: str) -> None:
        metadata.add_network(network_id, namespace, gateway, options.metadata_port)

    return HostNetworking(driver, serve_metadata, driver.namespace, metadata.close)
