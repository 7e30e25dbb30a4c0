"""Quotas through the network API (on SQLite and MariaDB): Neutron's shapes, who may
read and change them, bad input, the same limits compute's legacy quota keys show, and
creates that never pass a limit under concurrent requests."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import pytest

from labs.network.errors import OverQuota
from labs.network.quotas import RESOURCES
from tests.compute.conftest import Plane
from tests.network.api_helpers import error
from tests.network.test_api_floatingips import neutron, ok

PROXY = "2.35"
DEFAULTS = {"network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 10,
            "security_group": 10, "security_group_rule": 100}



def project(plane: Plane, who: str = "alice") -> str:
    groups = ok(plane, "GET", "/security-groups", who)["security_groups"]
    return str(groups[0]["project_id"])


def test_show_update_details_and_reset(plane: Plane) -> None:
    mine = project(plane)
    assert set(RESOURCES) == set(DEFAULTS)
    assert ok(plane, "GET", f"/quotas/{mine}") == {"quota": DEFAULTS}
    assert ok(plane, "GET", f"/quotas/{mine}/default") == {"quota": DEFAULTS}
    assert ok(plane, "GET", "/quotas", "admin") == {"quotas": []}
    changed = ok(plane, "PUT", f"/quotas/{mine}", "admin", json={
        "quota": {"security_group": 5, "floatingip": "3", "network": -1}})["quota"]
    assert changed == {**DEFAULTS, "security_group": 5, "floatingip": 3, "network": -1}
    assert ok(plane, "GET", "/quotas", "admin") == {"quotas": [
        {**changed, "project_id": mine, "tenant_id": mine}]}
    details = ok(plane, "GET", f"/quotas/{mine}/details")["quota"]
    assert details["security_group"] == {"limit": 5, "used": 1, "reserved": 0}
    assert details["security_group_rule"] == {"limit": 100, "used": 6, "reserved": 0}
    assert details["router"] == {"limit": 10, "used": 0, "reserved": 0}
    assert set(details) == set(DEFAULTS)
    # compute's legacy keys read the same limits, and write them
    legacy = plane.ok("GET", f"/os-quota-sets/{mine}", version=PROXY)["quota_set"]
    assert (legacy["floating_ips"], legacy["security_groups"],
            legacy["security_group_rules"]) == (3, 5, 100)
    plane.ok("PUT", f"/os-quota-sets/{mine}", "admin", version=PROXY,
             json={"quota_set": {"security_group_rules": 50}})
    assert ok(plane, "GET", f"/quotas/{mine}")["quota"]["security_group_rule"] == 50
    assert neutron(plane, "DELETE", f"/quotas/{mine}", "admin").status_code == 204
    assert ok(plane, "GET", f"/quotas/{mine}") == {"quota": DEFAULTS}


def test_who_may_read_and_change(plane: Plane) -> None:
    mine, theirs = project(plane), project(plane, "bob")
    assert ok(plane, "GET", f"/quotas/{mine}", "ann")  # a reader reads its own
    for path in (f"/quotas/{theirs}", f"/quotas/{theirs}/details",
                 f"/quotas/{theirs}/default", "/quotas"):
        error(neutron(plane, "GET", path), 403, "PolicyNotAuthorized")
    assert ok(plane, "GET", f"/quotas/{theirs}/details", "admin")
    for who in ("alice", "ann", "bob"):
        error(neutron(plane, "PUT", f"/quotas/{mine}", who, json={
            "quota": {"network": 1}}), 403, "PolicyNotAuthorized")
        error(neutron(plane, "DELETE", f"/quotas/{mine}", who), 403, "PolicyNotAuthorized")
    assert plane.client.get(f"/network/v2.0/quotas/{mine}").status_code == 401
    assert ok(plane, "GET", f"/quotas/{mine}")["quota"] == DEFAULTS


@pytest.mark.parametrize("body", [
    {"quota": {"network": -2}}, {"quota": {"network": "many"}},
    {"quota": {"network": 1.5}}, {"quota": {"network": True}},
    {"quota": {"network": 2**40}}, {"quota": {"rbac_policy": 1}},
    {"quota": {"floating_ips": 1}}, {"quota": []}, {"network": 1}, [],
])
def test_bad_updates(plane: Plane, body: Any) -> None:
    mine = project(plane)
    error(neutron(plane, "PUT", f"/quotas/{mine}", "admin", json=body), 400,
          "HTTPBadRequest")
    assert ok(plane, "GET", f"/quotas/{mine}")["quota"] == DEFAULTS


def test_a_project_id_longer_than_any_is_a_400(plane: Plane) -> None:
    """Paths and bodies naming a project id longer than the network keeps: 400s."""
    long = "p" * 65
    for method, path, body in (("PUT", f"/quotas/{long}", {"quota": {"network": 5}}),
                               ("GET", f"/quotas/{long}", None),
                               ("GET", f"/quotas/{long}/details", None),
                               ("DELETE", f"/quotas/{long}", None),
                               ("POST", "/networks", {"network": {"project_id": long}}),
                               ("POST", "/networks", {"network": {"tenant_id": long}}),
                               ("POST", "/security-groups", {"security_group": {
                                   "name": "web", "project_id": long}})):
        error(neutron(plane, method, path, "admin", json=body), 400, "HTTPBadRequest")
    net = ok(plane, "POST", "/networks", json={"network": {"name": "n"}})["network"]
    error(neutron(plane, "POST", "/subnets", "admin", json={"subnet": {
        "network_id": net["id"], "cidr": "10.3.0.0/24", "project_id": long}}), 400,
        "HTTPBadRequest")


def parallel(count: int, make: Any) -> list[Any]:
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        return list(pool.map(make, range(count)))


def test_concurrent_creates_never_pass_a_limit(plane: Plane) -> None:
    mine = project(plane)  # its default group: 1 group, 6 rules
    ok(plane, "PUT", f"/quotas/{mine}", "admin", json={
        "quota": {"security_group": 4, "security_group_rule": 15}})
    replies = parallel(12, lambda i: neutron(plane, "POST", "/security-groups", json={
        "security_group": {"name": f"g{i}"}}))
    assert sorted(r.status_code for r in replies) == [201] * 3 + [409] * 9
    error(next(r for r in replies if r.status_code == 409), 409, "OverQuota")
    groups = ok(plane, "GET", "/security-groups")["security_groups"]
    assert len(groups) == 4  # and 12 rules: 3 more fit
    web = next(g for g in groups if g["name"] != "default")
    replies = parallel(12, lambda i: neutron(plane, "POST", "/security-group-rules", json={
        "security_group_rule": {"security_group_id": web["id"], "direction": "ingress",
                                "protocol": "tcp", "port_range_min": 1000 + i,
                                "port_range_max": 1000 + i}}))
    assert sorted(r.status_code for r in replies) == [201] * 3 + [409] * 9
    used = ok(plane, "GET", f"/quotas/{mine}/details")["quota"]
    assert used["security_group"]["used"] == 4 and used["security_group_rule"]["used"] == 15
    # the compute proxy is held to the same limits
    over = plane.call("POST", "/os-security-groups", version=PROXY, json={
        "security_group": {"name": "more", "description": ""}})
    assert over.status_code == 403, over.text


def test_check_create_for_other_resources(plane: Plane) -> None:
    """What a create of networks, subnets or ports calls: 409 ``OverQuota`` past the
    limit, counting what the project has."""
    plane.create(networks="auto")  # the project's network, subnet and one port
    mine = project(plane)
    quotas = plane.service.network.quotas
    assert ok(plane, "GET", f"/quotas/{mine}/details")["quota"]["port"]["used"] == 1
    quotas.update(mine, {"network": 2, "port": 1})
    quotas.ready(mine)
    with plane.service.db.transaction() as tx:
        quotas.check_create(tx, mine, "network", adding=1)
        with pytest.raises(OverQuota, match="network"):
            quotas.check_create(tx, mine, "network", adding=2)
        with pytest.raises(OverQuota, match="port"):
            quotas.check_create(tx, mine, "port")
    quotas.update(mine, {"port": -1})
    with plane.service.db.transaction() as tx:
        quotas.check_create(tx, mine, "port", adding=1000)
