"""The scheduler's pure logic: filters, weighers, ranking and its messages."""

from __future__ import annotations

import random
from typing import Any

import pytest

from labs.common.config import Config, ConfigError
from labs.compute.scheduler.config import SchedulerOptions
from labs.compute.scheduler.engine import Scheduler
from labs.compute.scheduler.filters import (
    FILTERS,
    AvailabilityZoneFilter,
    ComputeFilter,
    CoreFilter,
    DiskFilter,
    ForceHostsFilter,
    HostFilter,
    RamFilter,
    RetryFilter,
    ServerGroupAffinityFilter,
    ServerGroupAntiAffinityFilter,
)
from labs.compute.scheduler.hosts import HostState, RequestSpec
from labs.compute.scheduler.weighers import (
    WEIGHERS,
    CPUWeigher,
    RAMWeigher,
    SoftAffinityWeigher,
    SoftAntiAffinityWeigher,
    weigh_hosts,
)


def make_host(name: str = "h1", **overrides: Any) -> HostState:
    values: dict[str, Any] = {
        "host": name, "node_id": f"node-{name}", "availability_zone": "nova",
        "enabled": True, "up": True, "vcpus": 8, "memory_mb": 16384, "disk_gb": 100,
        "cpu_allocation_ratio": 1.0,
    }
    values.update(overrides)
    return HostState(**values)


def make_spec(**overrides: Any) -> RequestSpec:
    values: dict[str, Any] = {"instance_id": "i-1", "project_id": "p-1",
                              "vcpus": 2, "memory_mb": 2048, "disk_gb": 10}
    values.update(overrides)
    return RequestSpec(**values)


# --- filters ---------------------------------------------------------------------------

FILTER_CASES: list[tuple[str, HostFilter, dict[str, Any], dict[str, Any], bool]] = [
    ("compute up", ComputeFilter(), {}, {}, True),
    ("compute disabled", ComputeFilter(), {"enabled": False}, {}, False),
    ("compute down", ComputeFilter(), {"up": False}, {}, False),
    ("ram fits exactly", RamFilter(), {"memory_mb_used": 14336}, {}, True),
    ("ram short", RamFilter(), {"memory_mb_used": 14337}, {}, False),
    ("ram overcommit", RamFilter(), {"memory_mb_used": 16384, "ram_allocation_ratio": 1.5},
     {}, True),
    ("vcpu fits", CoreFilter(), {"vcpus_used": 6}, {}, True),
    ("vcpu short", CoreFilter(), {"vcpus_used": 7}, {}, False),
    ("vcpu overcommit", CoreFilter(), {"vcpus_used": 30, "cpu_allocation_ratio": 4.0},
     {}, True),
    ("vcpu never more than the host has", CoreFilter(), {"cpu_allocation_ratio": 16.0},
     {"vcpus": 9}, False),
    ("disk fits", DiskFilter(), {"disk_gb_used": 90}, {}, True),
    ("disk short", DiskFilter(), {"disk_gb_used": 91}, {}, False),
    ("disk overcommit", DiskFilter(), {"disk_gb_used": 100, "disk_allocation_ratio": 2.0},
     {}, True),
    ("az any", AvailabilityZoneFilter(), {}, {}, True),
    ("az same", AvailabilityZoneFilter(), {}, {"availability_zone": "nova"}, True),
    ("az other", AvailabilityZoneFilter(), {}, {"availability_zone": "az2"}, False),
    ("affinity, no member yet", ServerGroupAffinityFilter(), {},
     {"group_policy": "affinity"}, True),
    ("affinity, with the members", ServerGroupAffinityFilter(), {},
     {"group_policy": "affinity", "group_hosts": {"h1": 1}}, True),
    ("affinity, elsewhere", ServerGroupAffinityFilter(), {},
     {"group_policy": "affinity", "group_hosts": {"h2": 1}}, False),
    ("affinity, other policy", ServerGroupAffinityFilter(), {},
     {"group_policy": "soft-affinity", "group_hosts": {"h2": 1}}, True),
    ("anti-affinity, free host", ServerGroupAntiAffinityFilter(), {},
     {"group_policy": "anti-affinity", "group_hosts": {"h2": 1}}, True),
    ("anti-affinity, taken host", ServerGroupAntiAffinityFilter(), {},
     {"group_policy": "anti-affinity", "group_hosts": {"h1": 1}}, False),
    ("anti-affinity, under max_server_per_host", ServerGroupAntiAffinityFilter(), {},
     {"group_policy": "anti-affinity", "group_hosts": {"h1": 1},
      "group_rules": {"max_server_per_host": 2}}, True),
    ("anti-affinity, at max_server_per_host", ServerGroupAntiAffinityFilter(), {},
     {"group_policy": "anti-affinity", "group_hosts": {"h1": 2},
      "group_rules": {"max_server_per_host": 2}}, False),
    ("anti-affinity, other policy", ServerGroupAntiAffinityFilter(), {},
     {"group_policy": "soft-anti-affinity", "group_hosts": {"h1": 3}}, True),
    ("retry, first try", RetryFilter(), {}, {}, True),
    ("retry, failed elsewhere", RetryFilter(), {}, {"ignore_hosts": frozenset({"h2"})}, True),
    ("retry, failed here", RetryFilter(), {}, {"ignore_hosts": frozenset({"h1"})}, False),
    ("force, none", ForceHostsFilter(), {}, {}, True),
    ("force, host", ForceHostsFilter(), {}, {"force_hosts": frozenset({"h1"})}, True),
    ("force, az:host", ForceHostsFilter(), {}, {"force_hosts": frozenset({"nova:h1"})}, True),
    ("force, wrong az", ForceHostsFilter(), {}, {"force_hosts": frozenset({"az2:h1"})}, False),
    ("force, az::node", ForceHostsFilter(), {}, {"force_hosts": frozenset({"nova::node-h1"})},
     True),
    ("force, other host", ForceHostsFilter(), {},
     {"force_hosts": frozenset({"h2", "nova:h3"})}, False),
]


@pytest.mark.parametrize(("host_filter", "host_values", "spec_values", "expected"),
                         [case[1:] for case in FILTER_CASES], ids=[c[0] for c in FILTER_CASES])
def test_filter(host_filter: HostFilter, host_values: dict[str, Any],
                spec_values: dict[str, Any], expected: bool) -> None:
    assert host_filter.host_passes(make_host(**host_values), make_spec(**spec_values)) is expected


def test_allocation_ratios_set_limits_and_free() -> None:
    host = make_host(vcpus=4, memory_mb=1000, disk_gb=50, vcpus_used=3, memory_mb_used=200,
                     disk_gb_used=60, cpu_allocation_ratio=4.0, ram_allocation_ratio=1.5,
                     disk_allocation_ratio=2.0)
    assert (host.vcpus_limit, host.memory_limit, host.disk_limit) == (16, 1500, 100)
    assert (host.free_vcpus, host.free_memory_mb, host.free_disk_gb) == (13, 1300, 40)


def test_consume_counts_an_instance() -> None:
    host = make_host()
    host.consume(make_spec())
    assert (host.vcpus_used, host.memory_mb_used, host.disk_gb_used, host.instances) == (
        2, 2048, 10, 1)


# --- weighers --------------------------------------------------------------------------

def test_weights_are_normalised_and_multiplied() -> None:
    hosts = [make_host("a", memory_mb_used=0), make_host("b", memory_mb_used=8192),
             make_host("c", memory_mb_used=16384)]
    ranked = weigh_hosts([RAMWeigher(2.0)], hosts, make_spec())
    assert [(weight, host.host) for weight, host in ranked] == [(2.0, "a"), (1.0, "b"),
                                                                  (0.0, "c")]


def test_equal_raw_values_weigh_nothing() -> None:
    ranked = weigh_hosts([RAMWeigher(5.0)], [make_host("b"), make_host("a")], make_spec())
    assert [(weight, host.host) for weight, host in ranked] == [(0.0, "a"), (0.0, "b")]


@pytest.mark.parametrize(("multiplier", "expected"), [(1.0, ["empty", "half", "full"]),
                                                      (-1.0, ["full", "half", "empty"])],
                         ids=["spread", "stack"])
def test_spread_or_stack(multiplier: float, expected: list[str]) -> None:
    hosts = [make_host("half", vcpus_used=4, memory_mb_used=8192),
             make_host("full", vcpus_used=6, memory_mb_used=12288),
             make_host("empty")]
    scheduler = Scheduler([], [RAMWeigher(multiplier), CPUWeigher(multiplier)])
    assert [host.host for host in scheduler.candidates(hosts, make_spec())] == expected


def test_weighers_sum() -> None:
    # a: most RAM, least CPU; b: the opposite; a CPU multiplier of 3 makes b win.
    hosts = [make_host("a", vcpus_used=6), make_host("b", memory_mb_used=8192)]
    ranked = weigh_hosts([RAMWeigher(1.0), CPUWeigher(3.0)], hosts, make_spec())
    assert [(weight, host.host) for weight, host in ranked] == [(3.0, "b"), (1.0, "a")]


@pytest.mark.parametrize(("policy", "expected"), [
    ("soft-affinity", ["two", "one", "none"]),
    ("soft-anti-affinity", ["none", "one", "two"]),
    (None, ["none", "one", "two"]),
])
def test_soft_affinity_ordering(policy: str | None, expected: list[str]) -> None:
    spec = make_spec(group_id="g", group_policy=policy, group_hosts={"one": 1, "two": 2})
    hosts = [make_host("two"), make_host("one"), make_host("none")]
    scheduler = Scheduler([], [SoftAffinityWeigher(), SoftAntiAffinityWeigher()])
    assert [host.host for host in scheduler.candidates(hosts, spec)] == expected


# --- the scheduler ---------------------------------------------------------------------

def default_scheduler(**options: Any) -> Scheduler:
    return Scheduler.from_options(SchedulerOptions(**options))


def test_anti_affinity_places_a_group_across_hosts() -> None:
    hosts = [make_host(f"h{i}") for i in range(3)]
    scheduler = default_scheduler()
    placed: dict[str, int] = {}
    for n in range(6):
        spec = make_spec(instance_id=f"i-{n}", group_id="g", group_policy="anti-affinity",
                         group_rules={"max_server_per_host": 2}, group_hosts=dict(placed))
        chosen = scheduler.candidates(hosts, spec)[0]
        chosen.consume(spec)
        placed[chosen.host] = placed.get(chosen.host, 0) + 1
    assert placed == {"h0": 2, "h1": 2, "h2": 2}
    last = make_spec(group_id="g", group_policy="anti-affinity",
                     group_rules={"max_server_per_host": 2}, group_hosts=placed)
    assert scheduler.candidates(hosts, last) == []


def test_retry_skips_the_hosts_that_failed() -> None:
    hosts = [make_host("a"), make_host("b", memory_mb_used=4096), make_host("c")]
    spec = make_spec(ignore_hosts=frozenset({"a"}))
    assert [host.host for host in default_scheduler().candidates(hosts, spec)] == ["c", "b"]


def test_explain_counts_what_each_filter_removed() -> None:
    hosts = [make_host("a", up=False), make_host("b", memory_mb_used=16000),
             make_host("c", memory_mb_used=15000)]
    assert default_scheduler().explain(hosts, make_spec()) == (
        "No valid host was found. There are not enough hosts available. "
        "(compute: 3 -> 2, ram (not enough memory): 2 -> 0)")


def test_explain_without_hosts_or_when_hosts_pass() -> None:
    scheduler = default_scheduler()
    assert scheduler.explain([], make_spec()) == (
        "No valid host was found. There are not enough hosts available. (no compute hosts)")
    assert scheduler.explain([make_host("a"), make_host("b", up=False)], make_spec()).endswith(
        "(compute: 2 -> 1, 1 passed every filter)")


@pytest.mark.parametrize(("option", "bad"), [("enabled_filters", "compute,RamFilter"),
                                             ("weighers", "ram,metrics")])
def test_from_options_rejects_unknown_names(option: str, bad: str) -> None:
    known = FILTERS if option == "enabled_filters" else WEIGHERS
    with pytest.raises(ConfigError, match=rf"\[scheduler\] {option}: unknown .*"
                                          rf"known: {', '.join(sorted(known))}$"):
        default_scheduler(**{option: bad})


def test_from_options_reads_labs_conf() -> None:
    config = Config({"scheduler": {"enabled_filters": " ram , vcpu,ram ", "weighers": "ram",
                                   "ram_weight_multiplier": "-1.5", "host_subset_size": "2"}},
                    environ={})
    scheduler = Scheduler.from_options(config.group(SchedulerOptions))
    assert [f.name for f in scheduler.filters] == ["ram", "vcpu"]
    assert [(w.name, w.multiplier) for w in scheduler.weighers] == [("ram", -1.5)]
    assert scheduler.host_subset_size == 2


def test_default_options_name_every_filter_and_known_weighers() -> None:
    scheduler = default_scheduler()
    assert sorted(f.name for f in scheduler.filters) == sorted(FILTERS)
    assert {w.name for w in scheduler.weighers} <= set(WEIGHERS)
    assert {w.name for w in default_scheduler(weighers=",".join(WEIGHERS)).weighers} == set(
        WEIGHERS)


def test_bad_host_subset_size() -> None:
    with pytest.raises(ConfigError, match="host_subset_size"):
        default_scheduler(host_subset_size=0)


def test_candidates_are_deterministic() -> None:
    hosts = [make_host(f"h{i:02d}", memory_mb_used=1024 * (i % 4)) for i in range(20)]
    spec = make_spec()
    first = [host.host for host in default_scheduler().candidates(hosts, spec)]
    shuffled = hosts[:]
    random.Random(7).shuffle(shuffled)
    assert [host.host for host in default_scheduler().candidates(shuffled, spec)] == first
    assert first[:5] == ["h00", "h04", "h08", "h12", "h16"]


def test_host_subset_size_picks_among_the_best() -> None:
    hosts = [make_host(f"h{i}", memory_mb_used=1024 * i) for i in range(6)]
    seen = set()
    for seed in range(40):
        scheduler = Scheduler([], [RAMWeigher()], 3, rng=random.Random(seed))
        ranked = [host.host for host in scheduler.candidates(hosts, make_spec())]
        assert sorted(ranked) == sorted(host.host for host in hosts)
        seen.add(ranked[0])
    assert seen == {"h0", "h1", "h2"}


def test_a_thousand_hosts() -> None:
    rng = random.Random(42)
    hosts = [make_host(f"host-{i:04d}", availability_zone=f"az{i % 3}",
                       enabled=i % 50 != 0, up=i % 97 != 0,
                       vcpus_used=rng.randrange(0, 9), memory_mb_used=rng.randrange(0, 16385),
                       disk_gb_used=rng.randrange(0, 101))
             for i in range(1000)]
    spec = make_spec(availability_zone="az1", ignore_hosts=frozenset({"host-0001"}))
    expected = [host for host in hosts
                if host.enabled and host.up and host.availability_zone == "az1"
                and host.host != "host-0001" and host.memory_mb - host.memory_mb_used >= 2048
                and host.vcpus - host.vcpus_used >= 2 and host.disk_gb - host.disk_gb_used >= 10]
    expected.sort(key=lambda host: host.host)
    expected.sort(key=lambda host: host.memory_mb_used)
    scheduler = default_scheduler(weighers="ram")
    assert scheduler.candidates(hosts, spec) == expected
    assert 100 < len(expected) < 333


def test_request_spec_is_hashable_despite_its_mappings() -> None:
    spec = make_spec(group_hosts={"h1": 1}, group_rules={"max_server_per_host": 2})
    assert hash(spec) == hash(make_spec(group_hosts={"h2": 2}))
