"""The network API fuzzed from its OpenAPI document (see tests/fuzzing.py), next to a
compute control plane (floating IPs and security groups change through it) with a server
holding a port and a floating IP, a port made through the API, and a security group with
a rule; quotas, tags and routers (the server's network's own, and one more) too."""

from __future__ import annotations

import pytest

from labs.identity.resources import ProjectFilter
from labs.network.api import build_api
from labs.network.config import NetworkOptions
from labs.network.topology import subnet_id_of
from labs.wiring.network import new_network
from tests.compute.conftest import Plane
from tests.fuzzing import (
    Fuzz,
    check_document,
    fuzz,
    mariadb_only,  # noqa: F401 -- this module's db_url
    neutron_shape,
    serve,
)


@pytest.mark.fuzz
def test_fuzz_network(plane: Plane) -> None:
    server = plane.create(networks="auto")
    headers = {"X-Auth-Token": plane.token("alice")}
    v2 = "/network/v2.0"
    networks = [n["id"] for n in plane.client.get(f"{v2}/networks", headers={
        "X-Auth-Token": plane.token("admin")}, params={"sort_key": "router:external",
                                                       "sort_dir": "desc"}).json()["networks"]]
    listed = plane.client.get(f"{v2}/ports", headers=headers).json()["ports"]
    made = plane.client.post(f"{v2}/ports", headers=headers, json={"port": {
        "network_id": listed[0]["network_id"], "name": "made"}})
    assert made.status_code == 201, made.text
    ports = [p["id"] for p in listed] + [made.json()["port"]["id"]]
    fip = plane.client.post(f"{v2}/floatingips", headers=headers, json={"floatingip": {
        "floating_network_id": networks[0], "port_id": ports[0]}})
    assert fip.status_code == 201 and server["id"], fip.text
    group = plane.client.post(f"{v2}/security-groups", headers=headers, json={
        "security_group": {"name": "web"}}).json()["security_group"]
    tagged = plane.client.put(f"{v2}/networks/{networks[-1]}/tags", headers=headers,
                              json={"tags": ["blue"]})
    assert tagged.status_code == 200, tagged.text
    rule = plane.client.post(f"{v2}/security-group-rules", headers=headers, json={
        "security_group_rule": {"security_group_id": group["id"], "direction": "ingress",
                                "protocol": "tcp", "port_range_min": 22,
                                "port_range_max": 22}}).json()["security_group_rule"]
    made = plane.client.post(f"{v2}/routers", headers=headers, json={"router": {
        "name": "edge", "external_gateway_info": {"network_id": networks[0]}}})
    assert made.status_code == 201, made.text
    routers = [r["id"] for r in plane.client.get(f"{v2}/routers", headers=headers).json()[
        "routers"]]
    known = {"network_id": networks, "router_id": routers,
             "subnet_id": [subnet_id_of(i) for i in networks],
             "port_id": ports, "floatingip_id": [fip.json()["floatingip"]["id"]],
             "security_group_id": [group["id"]], "security_group_rule_id": [rule["id"]],
             "project_id": [group["project_id"]],
             "alias": ["external-net", "net-mtu", "security-group", "standard-attr-tag"],
             "tag": ["blue", "red"]}
    callers = {"admin": {"X-Auth-Token": plane.token("admin")}, "member of a": headers,
               "member of b": {"X-Auth-Token": plane.token("bob")}}
    doc = plane.client.get(f"{v2}/openapi.json").json()
    (admin,) = plane.cloud.identity.resources.list_projects(ProjectFilter(name="admin"))
    network = new_network(plane.service.db, NetworkOptions(), admin.id)
    check_document(doc, build_api(network, plane.cloud.identity.tokens,
                                  plane.service.network_proxy, plane.service.network_proxy))
    with serve(plane.client.app) as url:
        fuzz(Fuzz(f"{url}/network", callers, neutron_shape, known), doc)
