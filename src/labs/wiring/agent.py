"""A compute agent's process (``labs agent``, and the agent of ``labs up``): its virt
driver and its host networking, from the site's ``[agent]`` options, served on the bus."""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable
from pathlib import Path

from labs.common.bus import Bus
from labs.common.config import ConfigError
from labs.common.runner import Site
from labs.compute.agent.manager import Agent
from labs.compute.config import AgentOptions, ComputeOptions
from labs.compute.rpcapi import AGENT
from labs.compute.virt import ksm
from labs.compute.virt.base import VirtDriver
from labs.compute.virt.fake import FakeDriver
from labs.compute.virt.qemu import QemuDriver
from labs.network.agent.host import HostNetworking
from labs.wiring.host_network import make_host_networking

#: Where an image's bytes are on this host, by image id (None: download them).
ImageFiles = Callable[[str], str | None]

log = logging.getLogger("labs.wiring.agent")


def agent_state_dir(site: Site, options: AgentOptions) -> Path:
    """Where the agent keeps its state (the driver's, snapshots under way)."""
    return Path(options.state_dir or site.data_dir / "agent")


def make_driver(site: Site, options: AgentOptions, host: str) -> VirtDriver:
    state_dir = agent_state_dir(site, options)
    if options.driver == "fake":
        return FakeDriver(state_dir, host, vcpus=options.fake_vcpus,
                          memory_mb=options.fake_memory_mb, disk_gb=options.fake_disk_gb,
                          spawn_seconds=options.fake_spawn_seconds,
                          memory_overhead_mb=options.fake_memory_overhead_mb,
                          memory_available_mb=(None if options.fake_memory_available_mb < 0
                                               else options.fake_memory_available_mb),
                          vcpu_overcommit=site.config.group(ComputeOptions).cpu_allocation_ratio)
    if options.driver == "qemu":
        if options.qemu_console_log_bytes < 4096:
            raise ConfigError(f"[agent] qemu_console_log_bytes = "
                              f"{options.qemu_console_log_bytes}: at least 4096")
        if options.qemu_accel not in ("auto", "kvm", "tcg"):
            raise ConfigError(f"[agent] qemu_accel = {options.qemu_accel!r}: use auto, kvm "
                              "or tcg")
        if options.image_cache_max_gb < 0:
            raise ConfigError(f"[agent] image_cache_max_gb = {options.image_cache_max_gb}: "
                              "not negative")
        if options.ksm not in ksm.MODES or options.ksm_pages_to_scan < 1:
            raise ConfigError(f"[agent] ksm = {options.ksm!r}, ksm_pages_to_scan = "
                              f"{options.ksm_pages_to_scan}: use auto or off, and at least 1")
        try:
            ipaddress.ip_address(options.host_ip)
        except ValueError:
            raise ConfigError(f"[agent] host_ip = {options.host_ip!r}: an IP address of "
                              "this host") from None
        driver = QemuDriver(state_dir, host, binary=options.qemu_binary,
                          host_ip=options.host_ip,
                          accel=options.qemu_accel,
                          vcpu_overcommit=site.config.group(ComputeOptions).cpu_allocation_ratio,
                          soft_reboot_seconds=options.qemu_soft_reboot_seconds,
                          console_max_bytes=options.qemu_console_log_bytes,
                          image_cache_max_bytes=int(options.image_cache_max_gb * (1 << 30)))
        log.info("%s", ksm.turn_on(options.ksm, options.ksm_pages_to_scan))
        return driver
    raise ConfigError(f"[agent] driver = {options.driver!r}: unknown virt driver, use qemu "
                      "or fake")


def agent_on(bus: Bus, host: str, zone: str, driver: VirtDriver, *,
             heartbeat_seconds: float, workers: int, network: HostNetworking,
             image_files: ImageFiles | None = None, snapshot_dir: Path | None = None,
             image_cache_seconds: float = 600.0, reserved_memory_mb: int = 0,
             memory_cap_mb: int = 0) -> Agent:
    """The agent of `host` serving ``compute.<host>`` on `bus` (call ``start`` once the
    bus runs)."""
    if reserved_memory_mb < 0 or memory_cap_mb < 0:
        raise ConfigError("[agent] reserved_host_memory_mb and memory_mb cannot be negative")
    agent = Agent(host, zone, driver, bus, heartbeat_seconds, workers, network, image_files,
                  snapshot_dir, image_cache_seconds, reserved_memory_mb=reserved_memory_mb,
                  memory_cap_mb=memory_cap_mb)
    bus.serve(AGENT, agent, server=host)
    return agent


def agent_hosts(site: Site, host: str | None = None) -> list[str]:
    """The hosts ``serve_agents`` runs an agent for: ``host``, else ``[agent] host``, else
    the machine's name; with the fake driver and ``fake_hosts`` > 1, <host>-1 ... <host>-N."""
    options = site.config.group(AgentOptions)
    name = host or options.host or socket.gethostname()
    if options.driver == "fake" and options.fake_hosts > 1:
        return [f"{name}-{i}" for i in range(1, options.fake_hosts + 1)]
    return [name]


def serve_agents(site: Site, bus: Bus, host: str | None = None,
                 image_files: ImageFiles | None = None, dns_server: str = "") -> list[Agent]:
    """The agent for ``host`` on ``bus`` (call ``start`` once the bus runs); with the
    fake driver and ``fake_hosts`` > 1, one agent per simulated host. `dns_server`:
    where the all-in-one's DNS server answers, for the networks' DNS relay."""
    options = site.config.group(AgentOptions)
    compute = site.config.group(ComputeOptions)
    agents = []
    for each in agent_hosts(site, host):
        network = make_host_networking(site, options, bus, dns_server)
        agents.append(agent_on(bus, each,
                               options.availability_zone or compute.default_availability_zone,
                               make_driver(site, options, each),
                               heartbeat_seconds=compute.heartbeat_seconds,
                               workers=options.workers, network=network,
                               image_files=image_files,
                               snapshot_dir=agent_state_dir(site, options) / "snapshots" / each,
                               image_cache_seconds=options.image_cache_seconds,
                               reserved_memory_mb=options.reserved_host_memory_mb,
                               memory_cap_mb=options.memory_mb))
    return agents
