"""What the scheduler sees: one compute host's state, and one instance's request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestSpec:
    """One instance to place: its flavor's size and where it may or must go."""

    instance_id: str
    project_id: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    availability_zone: str | None = None
    group_id: str | None = None
    #: 'affinity' | 'anti-affinity' | 'soft-affinity' | 'soft-anti-affinity'
    group_policy: str | None = None
    #: e.g. {'max_server_per_host': 2} (anti-affinity only)
    group_rules: Mapping[str, int] = field(default_factory=dict, hash=False)
    #: host -> number of OTHER members of the group already placed there
    group_hosts: Mapping[str, int] = field(default_factory=dict, hash=False)
    #: hosts where this build already failed (retries)
    ignore_hosts: frozenset[str] = frozenset()
    #: admin requests, each 'host', 'az:host' or 'az:host:node'; empty: any host
    force_hosts: frozenset[str] = frozenset()


@dataclass(slots=True)
class HostState:
    """One compute host (agent + hypervisor) as the scheduler counts it."""

    host: str
    node_id: str
    availability_zone: str
    enabled: bool
    up: bool
    vcpus: int
    memory_mb: int
    disk_gb: int
    vcpus_used: int = 0
    memory_mb_used: int = 0
    disk_gb_used: int = 0
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    instances: int = 0
    #: memory the host keeps for itself (``[agent] reserved_host_memory_mb``)
    reserved_memory_mb: int = 0
    #: what each instance costs beyond its guest memory, as the host measured it
    memory_overhead_mb: int = 0
    #: the host's MemAvailable as last reported, less what was placed there since;
    #: None: not reported
    memory_available_mb: float | None = None

    @property
    def vcpus_limit(self) -> float:
        return self.vcpus * self.cpu_allocation_ratio

    @property
    def free_vcpus(self) -> float:
        return self.vcpus * self.cpu_allocation_ratio - self.vcpus_used

    @property
    def memory_limit(self) -> float:
        return self.memory_mb * self.ram_allocation_ratio

    @property
    def free_memory_mb(self) -> float:
        """Nova's accounting: the limit, less the reserve, less each instance's guest
        memory and overhead."""
        return (self.memory_mb * self.ram_allocation_ratio - self.reserved_memory_mb
                - self.memory_mb_used - self.instances * self.memory_overhead_mb)

    def memory_needed(self, spec: RequestSpec) -> int:
        """What `spec` would cost this host: its guest memory and the overhead."""
        return spec.memory_mb + self.memory_overhead_mb

    def memory_fits(self, spec: RequestSpec) -> bool:
        """Nova's accounting holds, and the host really has the memory (MemAvailable
        less the reserve), when it reported it."""
        needed = self.memory_needed(spec)
        if self.free_memory_mb < needed:
            return False
        available = self.memory_available_mb
        return available is None or available - self.reserved_memory_mb >= needed

    @property
    def disk_limit(self) -> float:
        return self.disk_gb * self.disk_allocation_ratio

    @property
    def free_disk_gb(self) -> float:
        return self.disk_gb * self.disk_allocation_ratio - self.disk_gb_used

    def consume(self, spec: RequestSpec) -> None:
        """Count `spec` as placed here (when placing several instances in one pass)."""
        self.vcpus_used += spec.vcpus
        if self.memory_available_mb is not None:
            self.memory_available_mb -= self.memory_needed(spec)
        self.memory_mb_used += spec.memory_mb
        self.disk_gb_used += spec.disk_gb
        self.instances += 1
