"""Floating IPs come in through routers: a port's floating IP needs a router joining the
port's subnet to the external network (Neutron's 404 otherwise), shows that router
(``router_id``), and keeps the router's gateway and interface in use while associated."""

from __future__ import annotations

from labs.network.routers import auto_router_id
from tests.compute.conftest import Plane
from tests.network.api_helpers import error
from tests.network.test_api_floatingips import neutron, ok, port_of, public_id


def test_the_default_networks_router_carries_its_floating_ips(plane: Plane) -> None:
    sid = plane.create(networks="auto")["id"]
    port = port_of(plane, sid)
    fip = ok(plane, "POST", "/floatingips", json={"floatingip": {
        "floating_network_id": public_id(plane), "port_id": port["id"]}})["floatingip"]
    assert fip["router_id"] == auto_router_id(port["network_id"])
    assert ok(plane, "GET", f"/floatingips/{fip['id']}")["floatingip"]["router_id"] == \
        fip["router_id"]
    subnet_id = port["fixed_ips"][0]["subnet_id"]
    error(neutron(plane, "PUT", f"/routers/{fip['router_id']}/remove_router_interface",
                  json={"subnet_id": subnet_id}), 409, "RouterInterfaceInUseByFloatingIP")
    error(neutron(plane, "PUT", f"/routers/{fip['router_id']}", json={"router": {
        "external_gateway_info": None}}), 409, "RouterExternalGatewayInUseByFloatingIp")
    off = ok(plane, "PUT", f"/floatingips/{fip['id']}", json={"floatingip": {
        "port_id": None}})["floatingip"]
    assert off["router_id"] is None
    assert ok(plane, "PUT", f"/routers/{fip['router_id']}/remove_router_interface",
              json={"subnet_id": subnet_id})["subnet_id"] == subnet_id


def test_a_network_without_a_router_has_no_floating_ips(plane: Plane) -> None:
    network = ok(plane, "POST", "/networks", json={"network": {"name": "blue"}})["network"]
    sub = ok(plane, "POST", "/subnets", json={"subnet": {
        "network_id": network["id"], "cidr": "10.9.0.0/24"}})["subnet"]
    sid = plane.create(networks=[{"uuid": network["id"]}])["id"]
    port = port_of(plane, sid)
    external = public_id(plane)
    body = error(neutron(plane, "POST", "/floatingips", json={"floatingip": {
        "floating_network_id": external, "port_id": port["id"]}}), 404,
        "ExternalGatewayForFloatingIPNotFound")
    assert sub["id"] in body["message"] and external in body["message"]
    assert ok(plane, "GET", "/floatingips")["floatingips"] == []  # none was kept
    fip = ok(plane, "POST", "/floatingips", json={"floatingip": {
        "floating_network_id": external}})["floatingip"]
    error(neutron(plane, "PUT", f"/floatingips/{fip['id']}", json={"floatingip": {
        "port_id": port["id"]}}), 404, "ExternalGatewayForFloatingIPNotFound")

    # a router without a gateway is not enough; with one it is
    rid = ok(plane, "POST", "/routers", json={"router": {"name": "r"}})["router"]["id"]
    ok(plane, "PUT", f"/routers/{rid}/add_router_interface", json={"subnet_id": sub["id"]})
    error(neutron(plane, "PUT", f"/floatingips/{fip['id']}", json={"floatingip": {
        "port_id": port["id"]}}), 404, "ExternalGatewayForFloatingIPNotFound")
    ok(plane, "PUT", f"/routers/{rid}", json={"router": {"external_gateway_info": {
        "network_id": external}}})
    put = ok(plane, "PUT", f"/floatingips/{fip['id']}", json={"floatingip": {
        "port_id": port["id"]}})["floatingip"]
    assert (put["router_id"], put["status"]) == (rid, "ACTIVE")
