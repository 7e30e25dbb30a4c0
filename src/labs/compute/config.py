"""Compute options (section ``[compute]`` of labs.conf, or ``LABS_COMPUTE_*``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from labs.common.config import option


@dataclass(frozen=True)
class ComputeOptions:
    section: ClassVar[str] = "compute"
    default_availability_zone: str = option("nova", "the zone of agents that name none")
    max_build_attempts: int = option(3, "hosts a build is tried on before it ends in ERROR")
    heartbeat_seconds: float = option(10.0, "how often an agent reports its state")
    service_down_seconds: float = option(60.0, "a service not heard of for this long is down")
    stuck_build_seconds: float = option(
        120.0, "a build with no news for this long is driven again by the conductor")
    cpu_allocation_ratio: float = option(4.0, "virtual CPUs per physical CPU on a host")
    ram_allocation_ratio: float = option(1.0, "virtual RAM per physical RAM on a host")
    disk_allocation_ratio: float = option(1.0, "virtual disk per physical disk on a host")
    allow_resize_to_same_host: bool = option(
        True, "a resize may stay on the server's host (Nova's option defaults to False; "
        "single-host clouds are common)")
    max_list_limit: int = option(1000, "most servers (flavors, ...) one list answers with")
    shelved_offload_time: int = option(
        0, "a shelved server's VM is removed from its host (offloaded) right away (0) or "
        "only when an admin asks (-1)")
    # default quotas, per project
    quota_instances: int = option(10, "default quota: servers per project")
    quota_cores: int = option(20, "default quota: vCPUs per project")
    quota_ram: int = option(51200, "default quota: MiB of RAM per project")
    quota_key_pairs: int = option(100, "default quota: key pairs per user")
    quota_metadata_items: int = option(128, "default quota: metadata items per server")
    quota_server_groups: int = option(10, "default quota: server groups per project")
    quota_server_group_members: int = option(10, "default quota: servers per server group")


@dataclass(frozen=True)
class AgentOptions:
    section: ClassVar[str] = "agent"
    host: str = option("", "this agent's host name; empty: the machine's host name")
    driver: str = option("qemu", "virt driver: qemu (real VMs) or fake (no VMs; for tests "
                         "and benchmarks)")
    availability_zone: str = option("", "this host's zone; empty: the default zone")
    workers: int = option(16, "builds and power operations run at once on this host")
    state_dir: str = option("", "where the driver keeps its state; empty: <data-dir>/agent")
    reserved_host_memory_mb: int = option(
        512, "memory in MiB the host keeps for itself: the scheduler places no instance "
        "into it")
    memory_mb: int = option(0, "the most memory in MiB this host offers to instances "
                            "(less than it has); 0: all of it")
    fake_vcpus: int = option(16, "fake driver: the host's CPUs")
    fake_memory_mb: int = option(65536, "fake driver: the host's RAM in MiB")
    fake_disk_gb: int = option(1024, "fake driver: the host's disk in GiB")
    fake_memory_overhead_mb: int = option(
        0, "fake driver: what each instance costs the host beyond its guest memory, in MiB")
    fake_memory_available_mb: int = option(
        -1, "fake driver: the host's available memory in MiB with no instance running "
        "(each instance then takes its memory and overhead from it); -1: not reported")
    fake_spawn_seconds: float = option(0.0, "fake driver: how long a spawn takes")
    qemu_binary: str = option("qemu-system-x86_64", "qemu driver: the emulator to run")
    qemu_accel: str = option("auto", "qemu driver: auto (KVM when it really runs guests "
                             "here, else TCG), kvm or tcg")
    host_ip: str = option(
        "127.0.0.1", "qemu driver: the address other hosts reach this one on to copy a "
        "moving server's disk (NBD) and memory; these ports are not authenticated, so use "
        "an address on the hosts' own network that guests cannot reach. 127.0.0.1: servers "
        "move only between agents of this machine")
    qemu_soft_reboot_seconds: float = option(
        60.0, "qemu driver: how long a soft reboot waits for the guest to shut down before "
        "it resets it")
    qemu_console_log_bytes: int = option(
        2 << 20, "qemu driver: the most bytes of a VM's serial console log kept on disk in "
        "each of its two files (console.log, rotated once into console.log.1)")
    ksm: str = option(
        "auto", "qemu driver: auto (turn the kernel's same-page merging on when the agent "
        "may, so identical pages of VMs are kept once) or off (leave the host's setting)")
    ksm_pages_to_scan: int = option(
        1000, "qemu driver: with ksm = auto, the least pages KSM scans per 20 ms round "
        "(the kernel's default, 100, takes minutes to merge a host full of VMs)")
    image_cache_max_gb: float = option(
        20.0, "qemu driver: the most GiB of cached images kept on this host, beyond those "
        "its instances use (never removed); least recently used go first")
    image_cache_seconds: float = option(
        600.0, "how often the image cache is pruned (also after each image is cached)")
    network_driver: str = option(
        "auto", "how VMs are networked: bridge (a bridge per project network in a network "
        "namespace, DHCP, security groups, floating IPs; needs root, iproute2, nftables "
        "and dnsmasq), user (qemu's user-mode network, ssh through a loopback port), none, "
        "or auto: bridge when the host can, else user (none with the fake driver)")
    network_prefix: str = option("labs", "bridge networks: the first word of the names of "
                                 "the network namespaces this host makes")
    metadata_port: int = option(8775, "bridge networks: the port on each network's gateway "
                                "where VMs' requests to 169.254.169.254:80 are answered")
    fake_hosts: int = option(1, "fake driver: hosts this agent process simulates, each its "
                             "own agent (<host>-1 ... <host>-N when more than one)")
