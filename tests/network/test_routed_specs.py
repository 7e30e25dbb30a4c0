"""User routers reach the hosts: the ``network`` part of a server's spec carries the
router its subnet is on (its external IP, networks and floating IPs), and each router
change that alters how hosts route casts ``refresh_network`` to the hosts running the
project's servers. A network's own auto router is no router for its host."""

from __future__ import annotations

from typing import Any

import pytest

from labs.network.instance_spec import InstancePort, RouterPart, ports_message, ports_of
from labs.network.specs import InvalidRequest
from tests.compute.conftest import Plane
from tests.network.test_api_floatingips import ok, port_of, public_id


def network_with_subnet(plane: Plane, name: str, cidr: str) -> tuple[str, str]:
    net = ok(plane, "POST", "/networks", json={"network": {"name": name}})["network"]
    sub = ok(plane, "POST", "/subnets", json={"subnet": {
        "network_id": net["id"], "cidr": cidr}})["subnet"]
    return net["id"], sub["id"]


def router_of(plane: Plane, server_id: str) -> dict[str, Any] | None:
    spec = plane.conductor.network_specs([server_id])[server_id]
    assert ports_message(ports_of(spec)) == spec  # it travels unchanged
    return spec["ports"][0].get("router")


def test_a_user_router_travels_with_its_servers_specs(plane: Plane, casts: list[Any]
                                                      ) -> None:
    blue, blue_sub = network_with_subnet(plane, "blue", "10.9.1.0/24")
    red, red_sub = network_with_subnet(plane, "red", "10.9.2.0/24")
    on_blue = plane.create(networks=[{"uuid": blue}])["id"]
    on_red = plane.create(networks=[{"uuid": red}])["id"]
    both = sorted([on_blue, on_red])
    assert router_of(plane, on_blue) is None  # no router: its own uplink, as before
    rid = ok(plane, "POST", "/routers", json={"router": {"name": "r"}})["router"]["id"]
    assert casts == []  # a router with no subnet changes no host
    ok(plane, "PUT", f"/routers/{rid}/add_router_interface", json={"subnet_id": blue_sub})
    assert casts == [("h1", both)]
    assert router_of(plane, on_blue) == {"id": rid, "external_ip": None, "networks": [
        {"id": blue, "cidr": "10.9.1.0/24"}], "floating_ips": []}
    assert router_of(plane, on_red) is None
    spec = InstancePort.from_message(plane.conductor.network_specs([on_blue])[on_blue])
    assert spec.external_ip is not None and spec.network_spec().external_ip is None

    ok(plane, "PUT", f"/routers/{rid}/add_router_interface", json={"subnet_id": red_sub})
    casts.clear()
    external = public_id(plane)
    ok(plane, "PUT", f"/routers/{rid}", json={"router": {"external_gateway_info": {
        "network_id": external}}})
    assert casts == [("h1", both)]
    gateway = ok(plane, "GET", f"/routers/{rid}")["router"]["external_gateway_info"]
    address = gateway["external_fixed_ips"][0]["ip_address"]
    routed = router_of(plane, on_red)
    assert routed is not None and routed["external_ip"] == address
    assert [n["id"] for n in routed["networks"]] == [blue, red]  # in the order they joined
    casts.clear()
    ok(plane, "PUT", f"/routers/{rid}", json={"router": {"name": "renamed"}})
    assert casts == []  # a name routes nothing

    # a floating IP of a routed port comes in through the router: its host is told
    port = port_of(plane, on_blue)
    fip = ok(plane, "POST", "/floatingips", json={"floatingip": {
        "floating_network_id": external, "port_id": port["id"]}})["floatingip"]
    assert casts == [("h1", [on_blue])]
    assert router_of(plane, on_red) == {**routed, "floating_ips": [
        {"floating": fip["floating_ip_address"], "fixed": port["fixed_ips"][0]["ip_address"]}]}
    casts.clear()
    ok(plane, "PUT", f"/floatingips/{fip['id']}", json={"floatingip": {"port_id": None}})
    assert casts == [("h1", [on_blue])]
    assert router_of(plane, on_blue) == routed

    casts.clear()
    ok(plane, "PUT", f"/routers/{rid}", json={"router": {"external_gateway_info": None}})
    ok(plane, "PUT", f"/routers/{rid}/remove_router_interface", json={"subnet_id": red_sub})
    assert casts == [("h1", both), ("h1", both)]
    assert router_of(plane, on_red) is None
    assert router_of(plane, on_blue) == {"id": rid, "external_ip": None, "networks": [
        {"id": blue, "cidr": "10.9.1.0/24"}], "floating_ips": []}


def test_the_default_networks_auto_router_is_not_sent(plane: Plane) -> None:
    sid = plane.create(networks="auto")["id"]
    spec = plane.conductor.network_specs([sid])[sid]
    assert "router" not in spec and spec["external_ip"] is not None


def test_router_part_reads_old_messages_and_checks_values() -> None:
    port = InstancePort.from_message({
        "network_id": "n1", "label": "lan", "cidr": "10.68.0.0/24", "gateway": "10.68.0.1",
        "external_ip": "172.24.4.254", "dns_domain": "demo.labs.internal",
        "port_id": "i1", "address": "10.68.0.2", "mac": "fa:16:3e:00:00:02",
        "hostname": "web-1"})
    assert port.router is None and port.network_spec().external_ip == "172.24.4.254"
    part = RouterPart("r1", "172.24.4.9", (("n1", "10.68.0.0/24"),),
                      (("172.24.4.3", "10.68.0.2"),))
    assert RouterPart.from_message(part.to_message()) == part
    assert RouterPart.from_message(None) is None
    with pytest.raises(InvalidRequest, match="bad router id"):
        RouterPart("r 1")
    with pytest.raises(InvalidRequest, match="floating IP"):
        RouterPart("r1", floating=(("nowhere", "10.68.0.2"),))
