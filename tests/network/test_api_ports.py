"""Ports made, changed, listed and deleted through the network API: Neutron's shapes,
the fixed IPs asked for, who may do what, and bad input (a 4xx, never a 500)."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from labs.network import models
from tests.network.api_helpers import Net, error, net_fixture  # noqa: F401


def port_of(net: Net, body: dict[str, Any], who: str = "alice") -> httpx.Response:
    return net.call("POST", "/ports", who, json={"port": body})


def made(net: Net, body: dict[str, Any], who: str = "alice") -> dict[str, Any]:
    resp = port_of(net, body, who)
    assert resp.status_code == 201, resp.text
    item: dict[str, Any] = resp.json()["port"]
    return item


def small_network(net: Net, cidr: str = "10.9.0.0/29", who: str = "alice"
                  ) -> tuple[str, str]:
    """A network of the caller's with one subnet: (network id, subnet id)."""
    resp = net.call("POST", "/networks", who, json={"network": {"name": "small"}})
    assert resp.status_code == 201, resp.text
    network_id = resp.json()["network"]["id"]
    resp = net.call("POST", "/subnets", who, json={"subnet": {
        "network_id": network_id, "cidr": cidr, "ip_version": 4}})
    assert resp.status_code == 201, resp.text
    return network_id, resp.json()["subnet"]["id"]


def test_a_port_with_the_address_asked_for_made_listed_changed_and_deleted(net: Net) -> None:
    network_id, subnet_id = small_network(net)
    port = made(net, {"network_id": network_id, "name": "p1", "fixed_ips": [
        {"subnet_id": subnet_id, "ip_address": "10.9.0.5"}]})
    assert {k: port[k] for k in ("name", "network_id", "fixed_ips", "status",
                                 "device_id", "device_owner", "admin_state_up",
                                 "port_security_enabled", "allowed_address_pairs",
                                 "project_id", "revision_number")} == {
        "name": "p1", "network_id": network_id, "status": "DOWN",
        "fixed_ips": [{"subnet_id": subnet_id, "ip_address": "10.9.0.5"}],
        "device_id": "", "device_owner": "", "admin_state_up": True,
        "port_security_enabled": True, "allowed_address_pairs": [],
        "project_id": net.projects["a"], "revision_number": 0}
    assert port["mac_address"].startswith("fa:16:3e:") and len(port["security_groups"]) == 1
    assert "binding:host_id" not in port
    other = made(net, {"network_id": network_id})  # the next free address
    assert other["fixed_ips"] == [{"subnet_id": subnet_id, "ip_address": "10.9.0.2"}]

    for query, found in (({"fixed_ips": "ip_address=10.9.0.5"}, [port["id"]]),
                         ({"fixed_ips": f"subnet_id={subnet_id}"},
                          sorted([port["id"], other["id"]])),
                         ({"name": "p1"}, [port["id"]]),
                         ({"mac_address": other["mac_address"]}, [other["id"]]),
                         ({"network_id": network_id, "device_id": ""}, None)):
        listed = net.ok("/ports", **query)["ports"]
        if found is not None:
            assert sorted(p["id"] for p in listed) == found, query
    assert net.ok("/ports", fields="id", name="p1")["ports"] == [{"id": port["id"]}]

    resp = net.call("PUT", f"/ports/{port['id']}", json={"port": {
        "name": "renamed", "allowed_address_pairs": [{"ip_address": "10.9.0.100"}],
        "security_groups": []}})
    assert resp.status_code == 200, resp.text
    changed = resp.json()["port"]
    assert (changed["name"], changed["security_groups"], changed["allowed_address_pairs"],
            changed["revision_number"]) == ("renamed", [],
                                            [{"ip_address": "10.9.0.100"}], 1)
    error(net.call("DELETE", f"/networks/{network_id}"), 409, "NetworkInUse")

    assert net.call("DELETE", f"/ports/{port['id']}").status_code == 204
    error(net.call("GET", f"/ports/{port['id']}"), 404, "PortNotFound")
    again = made(net, {"network_id": network_id, "fixed_ips": [{"ip_address": "10.9.0.5"}]})
    assert again["fixed_ips"][0]["ip_address"] == "10.9.0.5"  # given back on delete


def test_another_projects_ports_are_invisible_and_untouchable(net: Net) -> None:
    network_id, _ = small_network(net)
    port = made(net, {"network_id": network_id})
    path = f"/ports/{port['id']}"
    assert net.ok("/ports", "bob", id=port["id"])["ports"] == []
    error(net.call("GET", path, "bob"), 404, "PortNotFound")
    error(net.call("PUT", path, "bob", json={"port": {"name": "x"}}), 404, "PortNotFound")
    error(net.call("DELETE", path, "bob"), 404, "PortNotFound")
    error(port_of(net, {"network_id": network_id}, "bob"), 404, "NetworkNotFound")
    # a reader sees, and changes nothing
    assert net.ok(path, "ann")["port"]["id"] == port["id"]
    error(port_of(net, {"network_id": network_id}, "ann"), 403, "PolicyNotAuthorized")
    error(net.call("PUT", path, "ann", json={"port": {"name": "x"}}), 403,
          "PolicyNotAuthorized")
    error(net.call("DELETE", path, "ann"), 403, "PolicyNotAuthorized")
    # the host binding and a chosen MAC are for admins
    error(port_of(net, {"network_id": network_id, "mac_address": "fa:16:3e:00:00:09"}),
          403, "PolicyNotAuthorized")
    error(net.call("PUT", path, json={"port": {"binding:host_id": "h1"}}), 403,
          "PolicyNotAuthorized")
    resp = net.call("PUT", path, "admin", json={"port": {"binding:host_id": "h1"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["port"]["binding:host_id"] == "h1"
    assert "binding:host_id" not in net.ok(path)["port"]
    assert net.ok("/ports", **{"binding:host_id": "h1"})["ports"] == []
    assert [p["id"] for p in net.ok("/ports", "admin", **{"binding:host_id": "h1"})[
        "ports"]] == [port["id"]]
    mac = made(net, {"network_id": network_id, "mac_address": "FA:16:3E:00:00:09",
                     "project_id": net.projects["a"]}, "admin")
    assert (mac["mac_address"], mac["project_id"]) == ("fa:16:3e:00:00:09",
                                                       net.projects["a"])
    assert net.ok(f"/ports/{mac['id']}")["port"]["id"] == mac["id"]


def test_bad_ports_are_refused_with_neutrons_errors(net: Net) -> None:
    network_id, subnet_id = small_network(net)  # pool: .2 to .6
    _, bobs_subnet = small_network(net, "10.8.0.0/29", "bob")
    for fixed, type_ in (([{"ip_address": "10.7.0.2"}], "InvalidIpForNetwork"),
                         ([{"subnet_id": subnet_id, "ip_address": "10.8.0.2"}],
                          "InvalidIpForSubnet"),
                         ([{"ip_address": "10.9.0.1"}], "InvalidInput"),  # the gateway
                         ([{"ip_address": "not-an-ip"}], "InvalidInput"),
                         ([{"subnet_id": bobs_subnet}], "InvalidInput"),
                         ([{"ip_address": "10.9.0.3"}, {"ip_address": "10.9.0.3"}],
                          "InvalidInput")):
        error(port_of(net, {"network_id": network_id, "fixed_ips": fixed}), 400, type_)
    for body in ({"network_id": network_id, "colour": "red"},
                 {"network_id": network_id, "fixed_ips": [{"subnet": subnet_id}]},
                 {"network_id": network_id, "fixed_ips": "10.9.0.2"},
                 {"network_id": network_id, "fixed_ips": [{}]},
                 {"name": "no network"}):
        error(port_of(net, body), 400, "HTTPBadRequest")
    error(net.call("POST", "/ports", json={"port": {"network_id": network_id},
                                           "extra": 1}), 400, "HTTPBadRequest")
    error(port_of(net, {"network_id": network_id, "mac_address": "01:00:5e:00:00:01"},
                  "admin"), 400, "InvalidInput")
    error(port_of(net, {"network_id": network_id, "mac_address": "fa:16:3e:zz:00:01"},
                  "admin"), 400, "InvalidInput")
    error(port_of(net, {"network_id": network_id, "port_security_enabled": False,
                        "security_groups": ["x"]}), 400,
          "PortSecurityAndIPRequiredForSecurityGroups")
    error(port_of(net, {"network_id": network_id, "allowed_address_pairs": [
        {"ip_address": "300.1.1.1"}]}), 400, "InvalidInput")
    net.service.security_groups.ensure_default(net.projects["b"])
    with net.service.db.reading() as tx:
        bobs_group = tx.scalar(sa.select(models.SecurityGroup.id).where(
            models.SecurityGroup.project_id == net.projects["b"]))
    resp = port_of(net, {"network_id": network_id, "security_groups": [bobs_group]})
    assert resp.status_code == 404 and "NeutronError" in resp.json(), resp.text
    error(port_of(net, {"network_id": net.external_id()}), 400, "HTTPBadRequest")
    error(port_of(net, {"network_id": "nope"}), 404, "NetworkNotFound")

    made(net, {"network_id": network_id, "fixed_ips": [{"ip_address": "10.9.0.4"}]})
    error(port_of(net, {"network_id": network_id, "fixed_ips": [{"ip_address": "10.9.0.4"}]}),
          409, "IpAddressAlreadyAllocated")
    for _ in range(4):
        made(net, {"network_id": network_id})
    error(port_of(net, {"network_id": network_id}), 409, "IpAddressGenerationFailure")
    mac = made(net, {"network_id": network_id, "fixed_ips": [],
                     "mac_address": "fa:16:3e:00:00:0a", "project_id": net.projects["a"]},
               "admin")
    assert mac["fixed_ips"] == []
    error(port_of(net, {"network_id": network_id, "fixed_ips": [],
                        "mac_address": "fa:16:3e:00:00:0a",
                        "project_id": net.projects["a"]}, "admin"), 409, "MacAddressInUse")
    error(net.call("PUT", f"/ports/{mac['id']}", json={"port": {"fixed_ips": []}}), 400,
          "HTTPBadRequest")
    error(net.call("GET", "/ports", params={"device_owner": "x", "size": "1"}), 400,
          "HTTPBadRequest")


def test_ports_count_against_the_projects_port_quota(net: Net) -> None:
    network_id, _ = small_network(net)
    mine = net.projects["a"]
    used = net.ok(f"/quotas/{mine}/details", "admin")["quota"]["port"]["used"]
    net.service.quotas.update(mine, {"port": used + 1})
    made(net, {"network_id": network_id})
    body = error(port_of(net, {"network_id": network_id}), 409, "OverQuota")
    assert "port" in body["message"]
    assert len(net.ok("/ports", network_id=network_id)["ports"]) == 1
