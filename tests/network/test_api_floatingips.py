"""Ports and floating IPs through the network API against a whole control plane: the
servers' ports, floating IPs made, associated, moved, taken back and released over the
rows compute's ``os-floating-ips`` shows, with the same casts to the server's host."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from labs.identity.resources import ProjectFilter
from labs.network import models as net_models
from labs.network.topology import subnet_id_of
from tests.compute.conftest import Plane
from tests.network.api_helpers import error

PROXY = "2.35"




def neutron(plane: Plane, method: str, path: str, who: str = "alice", *,
            json: Any = None, params: Any = None) -> httpx.Response:
    return plane.client.request(method, f"/network/v2.0{path}", json=json, params=params,
                                headers={"X-Auth-Token": plane.token(who)})


def ok(plane: Plane, method: str, path: str, who: str = "alice", **kw: Any) -> Any:
    resp = neutron(plane, method, path, who, **kw)
    assert resp.status_code < 300, f"{method} {path}: {resp.status_code} {resp.text}"
    return resp.json() if resp.content else None


def public_id(plane: Plane) -> str:
    found = ok(plane, "GET", "/networks", params={"router:external": "true"})["networks"]
    return str(found[0]["id"])


def port_of(plane: Plane, server_id: str, who: str = "alice") -> dict[str, Any]:
    (port,) = ok(plane, "GET", "/ports", who, params={"device_id": server_id})["ports"]
    return dict(port)


def lan(plane: Plane, server_id: str) -> list[tuple[str, str]]:
    shown = plane.show(server_id)["addresses"]["lan"]
    return [(a["OS-EXT-IPS:type"], a["addr"]) for a in shown]


def test_a_servers_port(plane: Plane) -> None:
    server = plane.create(networks="auto")
    sid = server["id"]
    entry = plane.show(sid)["addresses"]["lan"][0]
    port = port_of(plane, sid)
    network_id = port["network_id"]
    assert port == {
        "id": port["id"], "name": "", "network_id": network_id,
        "mac_address": entry["OS-EXT-IPS-MAC:mac_addr"], "admin_state_up": True,
        "status": "ACTIVE", "device_id": sid, "device_owner": "compute:nova",
        "fixed_ips": [{"subnet_id": subnet_id_of(network_id), "ip_address": entry["addr"]}],
        "allowed_address_pairs": [], "port_security_enabled": True,
        # in the server's groups (default)
        "security_groups": [g["id"] for g in ok(plane, "GET", "/security-groups", params={
            "name": "default"})["security_groups"]],
        "project_id": server["tenant_id"], "tenant_id": server["tenant_id"],
        "description": "", "tags": [], "created_at": port["created_at"],
        # one change: ACTIVE once its host plugged it
        "updated_at": port["updated_at"], "revision_number": 1}
    assert uuid.UUID(port["id"]).version == 5
    assert ok(plane, "GET", f"/ports/{port['id']}")["port"] == port
    # the same id on every read; filters as OSC sends them
    assert port_of(plane, sid)["id"] == port["id"]
    for query in ({"network_id": network_id}, {"mac_address": port["mac_address"]},
                  {"fixed_ips": f"ip_address={entry['addr']}"},
                  {"fixed_ips": f"subnet_id={subnet_id_of(network_id)}"}):
        assert [p["id"] for p in ok(plane, "GET", "/ports", params=query)["ports"]] == [
            port["id"]], query
    assert ok(plane, "GET", "/ports", params={"fixed_ips": "ip_address=10.9.9.9"}) == {
        "ports": []}
    assert ok(plane, "GET", "/ports", params={"device_id": sid, "fields": "id"}) == {
        "ports": [{"id": port["id"]}]}
    # a server without a network has no port
    bare = plane.create(name="bare")
    assert ok(plane, "GET", "/ports", params={"device_id": bare["id"]}) == {"ports": []}


def test_other_projects_ports_are_invisible(plane: Plane) -> None:
    port = port_of(plane, plane.create(networks="auto")["id"])
    theirs = port_of(plane, plane.create("bob", networks="auto")["id"], "bob")
    error(neutron(plane, "GET", f"/ports/{theirs['id']}"), 404, "PortNotFound")
    error(neutron(plane, "GET", f"/ports/{port['id']}", "bob"), 404, "PortNotFound")
    assert [p["id"] for p in ok(plane, "GET", "/ports")["ports"]] == [port["id"]]
    every = {p["id"] for p in ok(plane, "GET", "/ports", "admin")["ports"]}
    assert every == {port["id"], theirs["id"]}
    error(neutron(plane, "GET", "/ports/nonsense"), 404, "PortNotFound")
    # the host binding is the admins': a member's filter on it finds nothing
    host = plane.show(port["device_id"], "admin")["OS-EXT-SRV-ATTR:host"]
    assert ok(plane, "GET", "/ports", params={"binding:host_id": host})["ports"] == []
    assert port["id"] in [p["id"] for p in ok(plane, "GET", "/ports", "admin", params={
        "binding:host_id": host})["ports"]]
    error(neutron(plane, "POST", "/ports", json={"port": {}}), 400, "HTTPBadRequest")


def test_floating_ip_life(plane: Plane, casts: list[Any]) -> None:
    server = plane.create(networks="auto")
    sid = server["id"]
    host = plane.show(sid, "admin")["OS-EXT-SRV-ATTR:host"]
    port = port_of(plane, sid)
    fixed = port["fixed_ips"][0]["ip_address"]
    ext = public_id(plane)
    made = neutron(plane, "POST", "/floatingips",
                   json={"floatingip": {"floating_network_id": ext}})
    assert made.status_code == 201, made.text
    fip = made.json()["floatingip"]
    assert fip == {
        "id": fip["id"], "floating_ip_address": fip["floating_ip_address"],
        "floating_network_id": ext, "port_id": None, "fixed_ip_address": None,
        "router_id": None, "status": "DOWN", "project_id": server["tenant_id"],
        "tenant_id": server["tenant_id"], "description": "", "tags": [],
        "created_at": fip["created_at"], "updated_at": fip["updated_at"],
        "revision_number": 0}
    assert fip["floating_ip_address"].startswith("172.24.4.")
    # the compute proxy shows the same address: one row, two APIs
    (legacy,) = plane.ok("GET", "/os-floating-ips", version=PROXY)["floating_ips"]
    assert legacy["ip"] == fip["floating_ip_address"]
    assert ok(plane, "GET", "/floatingips")["floatingips"] == [fip]

    casts.clear()
    put = ok(plane, "PUT", f"/floatingips/{fip['id']}",
             json={"floatingip": {"port_id": port["id"]}})["floatingip"]
    assert (put["port_id"], put["fixed_ip_address"], put["status"]) == (
        port["id"], fixed, "ACTIVE")
    assert casts == [(host, [sid])]
    assert lan(plane, sid) == [("fixed", fixed), ("floating", fip["floating_ip_address"])]
    legacy = plane.ok("GET", f"/os-floating-ips/{legacy['id']}", version=PROXY)
    assert (legacy["floating_ip"]["instance_id"], legacy["floating_ip"]["fixed_ip"]) == (
        sid, fixed)
    assert ok(plane, "GET", "/floatingips", params={"port_id": port["id"]})[
        "floatingips"] == [put]
    assert ok(plane, "GET", "/floatingips", params={"fixed_ip_address": fixed,
                                                    "status": "ACTIVE"})["floatingips"] == [put]

    casts.clear()
    off = ok(plane, "PUT", f"/floatingips/{fip['id']}",
             json={"floatingip": {"port_id": None}})["floatingip"]
    assert (off["port_id"], off["fixed_ip_address"], off["status"]) == (None, None, "DOWN")
    assert casts == [(host, [sid])]
    assert lan(plane, sid) == [("fixed", fixed)]

    # released while associated: taken from the server first, as the proxy does
    ok(plane, "PUT", f"/floatingips/{fip['id']}", json={"floatingip": {"port_id": port["id"]}})
    casts.clear()
    gone = neutron(plane, "DELETE", f"/floatingips/{fip['id']}")
    assert gone.status_code == 204 and not gone.content
    assert casts == [(host, [sid])]
    assert lan(plane, sid) == [("fixed", fixed)]
    assert ok(plane, "GET", "/floatingips") == {"floatingips": []}
    assert plane.ok("GET", "/os-floating-ips", version=PROXY) == {"floating_ips": []}
    error(neutron(plane, "DELETE", f"/floatingips/{fip['id']}"), 404, "FloatingIPNotFound")


def test_create_associated_and_move(plane: Plane) -> None:
    one, two = (plane.create(name=n, networks="auto")["id"] for n in ("one", "two"))
    first, second = port_of(plane, one), port_of(plane, two)
    fip = ok(plane, "POST", "/floatingips", json={"floatingip": {
        "floating_network_id": public_id(plane), "port_id": first["id"],
        "fixed_ip_address": first["fixed_ips"][0]["ip_address"]}})["floatingip"]
    assert (fip["port_id"], fip["status"]) == (first["id"], "ACTIVE")
    address = fip["floating_ip_address"]
    moved = ok(plane, "PUT", f"/floatingips/{fip['id']}",
               json={"floatingip": {"port_id": second["id"]}})["floatingip"]
    assert moved["fixed_ip_address"] == second["fixed_ips"][0]["ip_address"]
    assert [kind for kind, _ in lan(plane, one)] == ["fixed"]
    assert ("floating", address) in lan(plane, two)


def test_other_projects_floating_ips_are_untouchable(plane: Plane) -> None:
    ext = public_id(plane)
    mine_port = port_of(plane, plane.create(networks="auto")["id"])
    theirs_port = port_of(plane, plane.create("bob", networks="auto")["id"], "bob")
    theirs = ok(plane, "POST", "/floatingips", "bob",
                json={"floatingip": {"floating_network_id": ext}})["floatingip"]
    mine = ok(plane, "POST", "/floatingips",
              json={"floatingip": {"floating_network_id": ext}})["floatingip"]
    for method, body in (("GET", None), ("DELETE", None),
                         ("PUT", {"floatingip": {"port_id": mine_port["id"]}})):
        error(neutron(plane, method, f"/floatingips/{theirs['id']}", json=body), 404,
              "FloatingIPNotFound")
    # another project's port: as good as missing
    error(neutron(plane, "PUT", f"/floatingips/{mine['id']}",
                  json={"floatingip": {"port_id": theirs_port["id"]}}), 404, "PortNotFound")
    error(neutron(plane, "POST", "/floatingips", json={"floatingip": {
        "floating_network_id": ext, "port_id": theirs_port["id"]}}), 404, "PortNotFound")
    assert [f["id"] for f in ok(plane, "GET", "/floatingips")["floatingips"]] == [mine["id"]]
    assert {f["id"] for f in ok(plane, "GET", "/floatingips", "admin")["floatingips"]} == {
        mine["id"], theirs["id"]}
    # a reader may look, not change
    assert ok(plane, "GET", "/floatingips", "ann")["floatingips"] == [mine]
    error(neutron(plane, "POST", "/floatingips", "ann",
                  json={"floatingip": {"floating_network_id": ext}}), 403,
          "PolicyNotAuthorized")
    error(neutron(plane, "DELETE", f"/floatingips/{mine['id']}", "ann"), 403,
          "PolicyNotAuthorized")


@pytest.mark.parametrize("body", [
    None, [], {"floatingip": None}, {"floatingip": {}}, {"floatingip": []},
    {"floatingip": {"floating_network_id": 5}},
    {"floatingip": {"floating_network_id": "x", "port_id": 7}},
    {"floatingip": {"floating_network_id": "x", "fixed_ip_address": "nope"}},
    {"floatingip": {"floating_network_id": "x", "router_id": "r"}},
    {"floatingips": {"floating_network_id": "x"}},
])
def test_bad_create_bodies(plane: Plane, body: Any) -> None:
    error(neutron(plane, "POST", "/floatingips", json=body), 400, "HTTPBadRequest")


def test_create_refusals(plane: Plane) -> None:
    ext = public_id(plane)
    own = ok(plane, "GET", "/networks", params={"router:external": "false"})["networks"]
    for network_id in ("nonsense", str(uuid.uuid4()), *(n["id"] for n in own)):
        error(neutron(plane, "POST", "/floatingips", json={"floatingip": {
            "floating_network_id": network_id}}), 400, "BadRequest")
    error(neutron(plane, "POST", "/floatingips", json={"floatingip": {
        "floating_network_id": ext, "floating_ip_address": "172.24.4.9"}}), 403,
        "PolicyNotAuthorized")
    error(neutron(plane, "POST", "/floatingips", json={"floatingip": {
        "floating_network_id": ext, "project_id": "someone"}}), 400, "BadRequest")
    port = port_of(plane, plane.create(networks="auto")["id"])
    error(neutron(plane, "POST", "/floatingips", json={"floatingip": {
        "floating_network_id": ext, "port_id": port["id"],
        "fixed_ip_address": "10.99.0.1"}}), 400, "BadRequest")
    # none of the refused creates kept an address
    assert ok(plane, "GET", "/floatingips") == {"floatingips": []}
    error(neutron(plane, "PUT", f"/floatingips/{uuid.uuid4()}",
                  json={"floatingip": {"port_id": None}}), 404, "FloatingIPNotFound")
    error(neutron(plane, "PUT", "/floatingips/nonsense", json={"floatingip": {"port_id": 3}}),
          400, "HTTPBadRequest")


def test_quota_and_exhaustion(plane: Plane) -> None:
    ext = public_id(plane)
    (project,) = plane.cloud.identity.resources.list_projects(ProjectFilter(name="a"))
    plane.ok("PUT", f"/os-quota-sets/{project.id}", "admin",
             json={"quota_set": {"floating_ips": 1}}, version=PROXY)
    ok(plane, "POST", "/floatingips", json={"floatingip": {"floating_network_id": ext}})
    error(neutron(plane, "POST", "/floatingips", json={
        "floatingip": {"floating_network_id": ext}}), 409, "OverQuota")
    with plane.service.db.transaction() as tx:
        tx.execute(sa.update(net_models.FloatingIp)
                   .where(net_models.FloatingIp.project_id.is_(None))
                   .values(project_id="someone-else"))
    error(neutron(plane, "POST", "/floatingips", "bob", json={
        "floatingip": {"floating_network_id": ext}}), 409, "IpAddressGenerationFailure")
