"""Host filters: each says whether one host can take one request.

A filter is stateless and cheap; it is called once per candidate host, so it
reads attributes and compares, nothing more.  `Scheduler` runs the enabled
filters one after the other over the shrinking list of hosts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from functools import lru_cache
from typing import ClassVar

from labs.compute.scheduler.hosts import HostState, RequestSpec


class HostFilter(ABC):
    """Decides whether `host` can take `spec`."""

    #: the name used in ``[scheduler] enabled_filters``
    name: ClassVar[str]
    #: what the hosts it removes lack, for the "No valid host" message ("" : nothing said)
    reason: ClassVar[str] = ""

    @abstractmethod
    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        """True if the host may be chosen for the request."""


class ComputeFilter(HostFilter):
    """The compute service is enabled and its heartbeat is fresh."""

    name = "compute"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return host.enabled and host.up


class RamFilter(HostFilter):
    """Enough memory, counting the RAM allocation ratio, the host's reserve and each
    instance's overhead, and enough memory really available on the host."""

    name = "ram"
    reason = "not enough memory"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return host.memory_fits(spec)


class CoreFilter(HostFilter):
    """Enough vCPUs, counting the CPU allocation ratio.

    As in Nova, an instance may overcommit against other instances, never
    against itself: it cannot have more vCPUs than the host has CPUs.
    """

    name = "vcpu"
    reason = "not enough vCPUs"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return host.free_vcpus >= spec.vcpus and spec.vcpus <= host.vcpus


class DiskFilter(HostFilter):
    """Enough local disk, counting the disk allocation ratio."""

    name = "disk"
    reason = "not enough disk"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return host.free_disk_gb >= spec.disk_gb


class AvailabilityZoneFilter(HostFilter):
    """In the requested availability zone, if one was requested."""

    name = "availability_zone"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        zone = spec.availability_zone
        return zone is None or host.availability_zone == zone


class ServerGroupAffinityFilter(HostFilter):
    """'affinity' group: on a host that already has members, once any is placed."""

    name = "affinity"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        if spec.group_policy != "affinity" or not spec.group_hosts:
            return True
        return host.host in spec.group_hosts


class ServerGroupAntiAffinityFilter(HostFilter):
    """'anti-affinity' group: fewer than ``max_server_per_host`` members (default 1)."""

    name = "anti_affinity"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        if spec.group_policy != "anti-affinity":
            return True
        limit = spec.group_rules.get("max_server_per_host", 1)
        return spec.group_hosts.get(host.host, 0) < limit


class RetryFilter(HostFilter):
    """Not a host where this build already failed."""

    name = "retry"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        return host.host not in spec.ignore_hosts


@lru_cache(maxsize=256)
def _forced(entry: str) -> tuple[str, str, str]:
    """'host' | 'az:host' | 'az:host:node' -> (az, host, node); '' matches any."""
    if ":" not in entry:
        return "", entry, ""
    zone, _, rest = entry.partition(":")
    host, _, node = rest.partition(":")
    return zone, host, node


class ForceHostsFilter(HostFilter):
    """One of the hosts an admin asked for, if any ('host', 'az:host', 'az:host:node')."""

    name = "force_hosts"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        forced = spec.force_hosts
        if not forced or host.host in forced:
            return True
        for entry in forced:
            zone, name, node = _forced(entry)
            if ((not zone or zone == host.availability_zone)
                    and (not name or name == host.host)
                    and (not node or node == host.node_id)):
                return True
        return False


#: Every filter, by its configuration name.
FILTERS: Mapping[str, type[HostFilter]] = {
    cls.name: cls
    for cls in (ComputeFilter, RetryFilter, ForceHostsFilter, AvailabilityZoneFilter,
                ServerGroupAffinityFilter, ServerGroupAntiAffinityFilter,
                RamFilter, CoreFilter, DiskFilter)
}
