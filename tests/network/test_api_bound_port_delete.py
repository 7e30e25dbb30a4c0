"""``openstack port delete`` of a server's port: Neutron lets the owner delete it, and
Nova then drops that interface. In Labs the port's address goes back to its network,
its floating IP is taken from it, and the server's ``addresses`` no longer name either
(no stale entry); its host is told to apply its network again."""

from __future__ import annotations

from typing import Any

import pytest

from tests.compute.conftest import Plane, record_casts
from tests.network.test_api_floatingips import neutron, ok, port_of, public_id


def test_a_servers_port_deleted(plane: Plane, monkeypatch: pytest.MonkeyPatch) -> None:
    sid = plane.create(networks="auto")["id"]
    other = plane.create(name="other", networks="auto")["id"]
    host = plane.show(sid, "admin")["OS-EXT-SRV-ATTR:host"]
    port = port_of(plane, sid)
    fip = ok(plane, "POST", "/floatingips", json={"floatingip": {
        "floating_network_id": public_id(plane), "port_id": port["id"]}})["floatingip"]
    assert fip["port_id"] == port["id"]
    (label,) = plane.show(sid)["addresses"]
    assert [a["OS-EXT-IPS:type"] for a in plane.show(sid)["addresses"][label]] == [
        "fixed", "floating"]
    kept: dict[str, Any] = plane.show(other)["addresses"]

    casts = record_casts(plane, monkeypatch)
    gone = neutron(plane, "DELETE", f"/ports/{port['id']}")
    assert gone.status_code == 204, gone.text
    assert plane.show(sid)["addresses"] == {}  # no stale entry
    assert plane.show(sid)["status"] == "ACTIVE"  # the server stays, without the NIC
    assert casts == [(host, [sid])]
    assert neutron(plane, "GET", f"/ports/{port['id']}").status_code == 404
    after = ok(plane, "GET", f"/floatingips/{fip['id']}")["floatingip"]
    assert (after["port_id"], after["fixed_ip_address"], after["status"]) == (
        None, None, "DOWN")
    assert after["revision_number"] == fip["revision_number"] + 1
    assert plane.show(other)["addresses"] == kept  # the other server keeps its own
    # the address went back to the network: the other server's port is the only one left
    assert [p["device_id"] for p in ok(plane, "GET", "/ports")["ports"]] == [other]
    # the server can be deleted as usual
    plane.ok("DELETE", f"/servers/{sid}")
