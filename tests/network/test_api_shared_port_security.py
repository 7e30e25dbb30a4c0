"""A port on a network of another project's (a shared one): only the network's owner
or an admin may turn its port security off or give it allowed address pairs (Neutron's
``admin_or_network_owner``), for either would let it send as the other projects' ports
on the network, or as its gateway (a DHCP server's answers too)."""

from __future__ import annotations

from typing import Any

from tests.network.api_helpers import Net, error, net_fixture  # noqa: F401
from tests.network.test_api_ports import made, port_of, small_network


def shared_network(net: Net) -> tuple[str, str]:
    """The admin's shared network with one subnet: (network id, subnet id)."""
    resp = net.call("POST", "/networks", "admin", json={"network": {
        "name": "commons", "shared": True}})
    assert resp.status_code == 201, resp.text
    network_id = resp.json()["network"]["id"]
    resp = net.call("POST", "/subnets", "admin", json={"subnet": {
        "network_id": network_id, "cidr": "10.77.0.0/24", "ip_version": 4}})
    assert resp.status_code == 201, resp.text
    return network_id, resp.json()["subnet"]["id"]


def set_port(net: Net, port_id: str, who: str, **changes: Any) -> Any:
    return net.call("PUT", f"/ports/{port_id}", who, json={"port": changes})


GATEWAY = [{"ip_address": "10.77.0.1"}]


def test_no_port_security_off_nor_pairs_on_another_projects_network(net: Net) -> None:
    network_id, _ = shared_network(net)
    for body in ({"port_security_enabled": False},
                 {"allowed_address_pairs": GATEWAY},
                 {"allowed_address_pairs": [{"ip_address": "0.0.0.0/0"}]}):
        error(port_of(net, {"network_id": network_id, **body}, "bob"), 403,
              "PolicyNotAuthorized")
    port = made(net, {"network_id": network_id}, "bob")
    error(set_port(net, port["id"], "bob", port_security_enabled=False,
                   security_groups=[]), 403, "PolicyNotAuthorized")
    error(set_port(net, port["id"], "bob", allowed_address_pairs=GATEWAY), 403,
          "PolicyNotAuthorized")
    shown = net.ok(f"/ports/{port['id']}", "bob")["port"]
    assert shown["port_security_enabled"] is True and shown["allowed_address_pairs"] == []
    # what takes nothing away stays allowed
    resp = set_port(net, port["id"], "bob", allowed_address_pairs=[],
                    port_security_enabled=True, name="mine")
    assert resp.status_code == 200, resp.text


def test_the_networks_owner_and_admins_may(net: Net) -> None:
    network_id, _ = shared_network(net)
    made(net, {"network_id": network_id, "port_security_enabled": False}, "admin")
    port = made(net, {"network_id": network_id, "allowed_address_pairs": GATEWAY},
                "admin")
    assert port["allowed_address_pairs"][0]["ip_address"] == "10.77.0.1"
    mine, _ = small_network(net, who="bob")
    made(net, {"network_id": mine, "port_security_enabled": False}, "bob")
    port = made(net, {"network_id": mine}, "bob")
    resp = set_port(net, port["id"], "bob", allowed_address_pairs=[
        {"ip_address": "10.9.0.0/29"}])
    assert resp.status_code == 200, resp.text


def test_no_chosen_address_on_another_projects_network(net: Net) -> None:
    """Neutron's ``create_port:fixed_ips:ip_address`` (the network's owner or an admin):
    another project cannot pick the address a departed port of someone else's held."""
    network_id, subnet_id = shared_network(net)
    error(port_of(net, {"network_id": network_id, "fixed_ips": [
        {"ip_address": "10.77.0.9"}]}, "bob"), 403, "PolicyNotAuthorized")
    error(port_of(net, {"network_id": network_id, "fixed_ips": [
        {"subnet_id": subnet_id, "ip_address": "10.77.0.9"}]}, "bob"), 403,
        "PolicyNotAuthorized")
    chosen = made(net, {"network_id": network_id, "fixed_ips": [{"subnet_id": subnet_id}]},
                  "bob")  # a subnet may be chosen, not an address
    assert chosen["fixed_ips"][0]["subnet_id"] == subnet_id
    made(net, {"network_id": network_id, "fixed_ips": [{"ip_address": "10.77.0.9"}]},
         "admin")
