"""The filter scheduler: filter the hosts, weigh the survivors, best first."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from labs.common.config import ConfigError
from labs.compute.scheduler.config import SchedulerOptions
from labs.compute.scheduler.filters import FILTERS, HostFilter
from labs.compute.scheduler.hosts import HostState, RequestSpec
from labs.compute.scheduler.weighers import WEIGHERS, HostWeigher, weigh_hosts

NO_VALID_HOST = "No valid host was found. "


class Scheduler:
    """Ranks the hosts that can take a request; pure, holds no host state."""

    def __init__(self, filters: Sequence[HostFilter], weighers: Sequence[HostWeigher],
                 host_subset_size: int = 1, *, rng: random.Random | None = None) -> None:
        if host_subset_size < 1:
            raise ValueError(f"host_subset_size must be at least 1, not {host_subset_size}")
        self.filters = tuple(filters)
        self.weighers = tuple(weighers)
        self.host_subset_size = host_subset_size
        self._rng = rng or random.Random()

    @classmethod
    def from_options(cls, options: SchedulerOptions) -> Scheduler:
        """The scheduler that ``[scheduler]`` describes; ConfigError for unknown names."""
        if options.host_subset_size < 1:
            raise ConfigError(f"[scheduler] host_subset_size: must be at least 1, "
                              f"not {options.host_subset_size}")
        multipliers = {
            "ram": options.ram_weight_multiplier,
            "vcpu": options.cpu_weight_multiplier,
            "disk": options.disk_weight_multiplier,
            "soft_affinity": options.soft_affinity_weight_multiplier,
            "soft_anti_affinity": options.soft_anti_affinity_weight_multiplier,
        }
        filters = [FILTERS[name]() for name in
                   _names(options.enabled_filters, FILTERS, "enabled_filters", "filter")]
        weighers = [WEIGHERS[name](multipliers[name]) for name in
                    _names(options.weighers, WEIGHERS, "weighers", "weigher")]
        return cls(filters, weighers, options.host_subset_size)

    def candidates(self, hosts: Iterable[HostState], spec: RequestSpec) -> list[HostState]:
        """The hosts that pass every filter, best first.

        The caller claims them in order and moves on when a claim fails.  With
        ``host_subset_size`` N > 1, one of the N best is picked at random and
        put first, as in Nova.
        """
        passing = list(hosts)
        for host_filter in self.filters:
            passes = host_filter.host_passes
            passing = [host for host in passing if passes(host, spec)]
            if not passing:
                return []
        if len(passing) > 1:
            passing = [host for _, host in weigh_hosts(self.weighers, passing, spec)]
            subset = min(self.host_subset_size, len(passing))
            if subset > 1:
                passing.insert(0, passing.pop(self._rng.randrange(subset)))
        return passing

    def explain(self, hosts: Iterable[HostState], spec: RequestSpec) -> str:
        """Why no host fits: Nova's message, then how many hosts each filter removed.

        e.g. "No valid host was found. There are not enough hosts available.
        (compute: 3 -> 2, ram (not enough memory): 2 -> 0)".  Filters that removed
        nothing are left out; if some hosts pass every filter (their claims must have failed),
        the message says how many.
        """
        message = NO_VALID_HOST + "There are not enough hosts available."
        passing = list(hosts)
        if not passing:
            return message + " (no compute hosts)"
        steps: list[str] = []
        for host_filter in self.filters:
            before = len(passing)
            passes = host_filter.host_passes
            passing = [host for host in passing if passes(host, spec)]
            if len(passing) < before:
                why = f" ({host_filter.reason})" if host_filter.reason else ""
                steps.append(f"{host_filter.name}{why}: {before} -> {len(passing)}")
            if not passing:
                break
        if passing:
            steps.append(f"{len(passing)} passed every filter")
        return f"{message} ({', '.join(steps)})"


def _names(value: str, known: Iterable[str], option: str, kind: str) -> list[str]:
    """The comma-separated names of `value`, each once; ConfigError naming unknown ones."""
    names = list(dict.fromkeys(item.strip() for item in value.split(",") if item.strip()))
    valid = sorted(known)
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise ConfigError(f"[scheduler] {option}: unknown {kind} "
                          f"{', '.join(map(repr, unknown))}; known: {', '.join(valid)}")
    return names
