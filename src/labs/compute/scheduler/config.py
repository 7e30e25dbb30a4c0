"""Scheduler options (section ``[scheduler]`` of labs.conf, or ``LABS_SCHEDULER_*``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from labs.common.config import option


@dataclass(frozen=True)
class SchedulerOptions:
    section: ClassVar[str] = "scheduler"
    enabled_filters: str = option(
        "compute,retry,force_hosts,availability_zone,affinity,anti_affinity,ram,vcpu,disk",
        "host filters to run, comma-separated, in this order (cheapest and most "
        "selective first): compute, retry, force_hosts, availability_zone, affinity, "
        "anti_affinity, ram, vcpu, disk")
    weighers: str = option(
        "ram,vcpu,soft_affinity,soft_anti_affinity",
        "host weighers, comma-separated: ram, vcpu, disk, soft_affinity, soft_anti_affinity")
    ram_weight_multiplier: float = option(
        1.0, "weight of free RAM: positive spreads instances, negative stacks them")
    cpu_weight_multiplier: float = option(
        1.0, "weight of free vCPUs: positive spreads instances, negative stacks them")
    disk_weight_multiplier: float = option(
        0.0, "weight of free disk: positive spreads instances, negative stacks them")
    soft_affinity_weight_multiplier: float = option(
        1.0, "weight of group members already on a host, for soft-affinity groups")
    soft_anti_affinity_weight_multiplier: float = option(
        1.0, "weight of a host having fewer group members, for soft-anti-affinity groups")
    host_subset_size: int = option(
        1, "choose at random among this many best hosts (more than 1 lessens "
        "collisions between schedulers running in parallel)")
