"""Host weighers: each gives one raw number per host; `weigh_hosts` ranks.

Raw values are normalised to [0, 1] across the candidate hosts, then
multiplied by the weigher's multiplier, then summed: a positive RAM or vCPU
multiplier prefers the emptiest hosts (spread), a negative one the fullest
(stack).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from operator import attrgetter, itemgetter
from typing import ClassVar

from labs.compute.scheduler.hosts import HostState, RequestSpec


class HostWeigher(ABC):
    """Gives one host a raw weight for one request; higher is better."""

    #: the name used in ``[scheduler] weighers``
    name: ClassVar[str]

    def __init__(self, multiplier: float = 1.0) -> None:
        self.multiplier = multiplier

    @abstractmethod
    def weigh(self, host: HostState, spec: RequestSpec) -> float:
        """The raw, unnormalised weight."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(multiplier={self.multiplier})"


class RAMWeigher(HostWeigher):
    """Free memory (with the allocation ratio)."""

    name = "ram"

    def weigh(self, host: HostState, spec: RequestSpec) -> float:
        return host.free_memory_mb


class CPUWeigher(HostWeigher):
    """Free vCPUs (with the allocation ratio)."""

    name = "vcpu"

    def weigh(self, host: HostState, spec: RequestSpec) -> float:
        return host.free_vcpus


class DiskWeigher(HostWeigher):
    """Free disk (with the allocation ratio)."""

    name = "disk"

    def weigh(self, host: HostState, spec: RequestSpec) -> float:
        return host.free_disk_gb


class SoftAffinityWeigher(HostWeigher):
    """'soft-affinity' group: the more members already on the host, the better."""

    name = "soft_affinity"

    def weigh(self, host: HostState, spec: RequestSpec) -> float:
        if spec.group_policy != "soft-affinity":
            return 0.0
        return spec.group_hosts.get(host.host, 0)


class SoftAntiAffinityWeigher(HostWeigher):
    """'soft-anti-affinity' group: the fewer members already on the host, the better."""

    name = "soft_anti_affinity"

    def weigh(self, host: HostState, spec: RequestSpec) -> float:
        if spec.group_policy != "soft-anti-affinity":
            return 0.0
        return -spec.group_hosts.get(host.host, 0)


#: Every weigher, by its configuration name.
WEIGHERS: Mapping[str, type[HostWeigher]] = {
    cls.name: cls
    for cls in (RAMWeigher, CPUWeigher, DiskWeigher, SoftAffinityWeigher,
                SoftAntiAffinityWeigher)
}

_by_name = attrgetter("host")
_by_weight = itemgetter(0)


def weigh_hosts(weighers: Sequence[HostWeigher], hosts: Sequence[HostState],
                spec: RequestSpec) -> list[tuple[float, HostState]]:
    """(weight, host) pairs, best first; equal weights in host-name order.

    Each weigher's raw values are normalised to [0, 1] across `hosts` (all
    equal: 0) and multiplied by its multiplier; a weigher whose multiplier is
    0 is not called.
    """
    ordered = sorted(hosts, key=_by_name)
    totals = [0.0] * len(ordered)
    for weigher in weighers:
        multiplier = weigher.multiplier
        if not multiplier or not ordered:
            continue
        weigh = weigher.weigh
        raw = [weigh(host, spec) for host in ordered]
        low, high = min(raw), max(raw)
        if high == low:
            continue
        scale = multiplier / (high - low)
        totals = [total + (value - low) * scale for total, value in zip(totals, raw, strict=True)]
    ranked = list(zip(totals, ordered, strict=True))
    ranked.sort(key=_by_weight, reverse=True)  # stable: ties stay in name order
    return ranked
