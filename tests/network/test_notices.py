"""The network's notifications (Neutron's ``floatingip.*`` and ``security_group*.*``):
sent after the change commits, from ``network.<host>``, for changes made through the
network API and through compute's nova-network proxies alike; on the in-process bus
against a whole control plane, and on RabbitMQ against the network service."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from labs.common.bus import Bus, InProcessBus
from labs.common.bus.messages import Notification
from labs.common.bus.rabbit import RabbitBus
from labs.common.context import RequestContext
from labs.common.errors import Conflict
from labs.network.notices import Notices
from labs.wiring.network import new_network
from tests.common.bus_helpers import (
    RABBIT_URL,
    new_namespace,
    require_rabbitmq,
    stop_and_clean_up,
    wait_for,
)
from tests.compute.conftest import Plane
from tests.conftest import Cloud
from tests.network.api_helpers import OPTIONS
from tests.network.test_api_floatingips import PROXY, neutron, ok, port_of, public_id

PATTERNS = ("floatingip.#", "security_group.#", "security_group_rule.#")
#: The notifications of networks, subnets, ports and routers.
TOPOLOGY = ("network.#", "subnet.#", "port.#", "router.#")


class Heard:
    """The network notifications a listener has received, in order."""

    def __init__(self, bus: Bus, patterns: tuple[str, ...] = PATTERNS) -> None:
        self.notes: list[Notification] = []
        self._lock = threading.Lock()
        for pattern in patterns:
            bus.subscribe(pattern, self._keep, group="test-notices")

    def _keep(self, note: Notification) -> None:
        with self._lock:
            self.notes.append(note)

    def wait(self, count: int, timeout: float = 10.0) -> list[Notification]:
        """The first `count` notifications (fails if fewer arrive in time)."""
        wait_for(lambda: len(self.notes) >= count, timeout, f"{count} notifications")
        with self._lock:
            return list(self.notes[:count])

    def events(self) -> list[str]:
        with self._lock:
            return [n.event_type for n in self.notes]



@pytest.fixture
def heard(plane: Plane) -> Iterator[Heard]:
    listener = InProcessBus(plane.namespace)
    found = Heard(listener)
    listener.start()
    yield found
    listener.stop()


@pytest.fixture
def heard_topology(plane: Plane) -> Iterator[Heard]:
    listener = InProcessBus(plane.namespace)
    found = Heard(listener, TOPOLOGY)
    listener.start()
    yield found
    listener.stop()


def compute(plane: Plane, method: str, path: str, **kw: Any) -> Any:
    return plane.ok(method, path, version=PROXY, **kw)


def test_floating_ips_through_the_network_api(plane: Plane, heard: Heard) -> None:
    sid = plane.create(networks="auto")["id"]
    port = port_of(plane, sid)
    made = ok(plane, "POST", "/floatingips", json={"floatingip": {
        "floating_network_id": public_id(plane), "port_id": port["id"]}})["floatingip"]
    create, update = heard.wait(2)
    assert (create.event_type, update.event_type) == ("floatingip.create.end",
                                                      "floatingip.update.end")
    assert create.publisher_id.startswith("network.")
    assert create.payload["floatingip"]["id"] == made["id"]
    assert create.payload["floatingip"]["port_id"] is None
    assert update.payload == {"floatingip": made}  # the API's view, with its port

    moved = ok(plane, "PUT", f"/floatingips/{made['id']}",
               json={"floatingip": {"port_id": None}})["floatingip"]
    assert heard.wait(3)[2].payload == {"floatingip": moved}
    assert moved["port_id"] is None and moved["fixed_ip_address"] is None

    ok(plane, "DELETE", f"/floatingips/{made['id']}")
    gone = heard.wait(4)[3]
    assert gone.event_type == "floatingip.delete.end"
    assert gone.payload == {"floatingip_id": made["id"], "floatingip": moved}


def test_floating_ips_through_compute(plane: Plane, heard: Heard) -> None:
    sid = plane.create(networks="auto")["id"]
    made = compute(plane, "POST", "/os-floating-ips", json={})["floating_ip"]
    address = made["ip"]
    compute(plane, "POST", f"/servers/{sid}/action",
            json={"addFloatingIp": {"address": address}})
    create, update = heard.wait(2)
    assert create.event_type == "floatingip.create.end"
    assert create.payload["floatingip"]["floating_ip_address"] == address
    assert update.event_type == "floatingip.update.end"
    (shown,) = ok(plane, "GET", "/floatingips")["floatingips"]
    assert update.payload == {"floatingip": shown}
    assert shown["port_id"] == port_of(plane, sid)["id"]

    # a change refused (and rolled back) tells nothing: the next one is the release
    refused = plane.call("POST", f"/servers/{sid}/action", version=PROXY,
                         json={"removeFloatingIp": {"address": "192.0.2.250"}})
    assert refused.status_code in (400, 404, 409)
    compute(plane, "DELETE", f"/os-floating-ips/{made['id']}")
    gone = heard.wait(3)[2]
    assert gone.event_type == "floatingip.delete.end"
    assert gone.payload["floatingip"]["id"] == shown["id"]
    assert gone.payload["floatingip"]["port_id"] == shown["port_id"]  # as it was
    assert heard.events() == ["floatingip.create.end", "floatingip.update.end",
                              "floatingip.delete.end"]


def test_security_groups_through_compute(plane: Plane, heard: Heard) -> None:
    group = compute(plane, "POST", "/os-security-groups", json={"security_group": {
        "name": "web", "description": "web servers"}})["security_group"]
    made = heard.wait(1)[0]
    assert made.event_type == "security_group.create.end"
    view = made.payload["security_group"]
    assert (view["id"], view["name"], view["description"]) == (group["id"], "web",
                                                              "web servers")
    assert sorted(r["ethertype"] for r in view["security_group_rules"]) == ["IPv4", "IPv6"]
    rule = compute(plane, "POST", "/os-security-group-rules", json={
        "security_group_rule": {"parent_group_id": group["id"], "ip_protocol": "tcp",
                                "from_port": 80, "to_port": 80,
                                "cidr": "0.0.0.0/0"}})["security_group_rule"]
    added = heard.wait(2)[1]
    assert added.event_type == "security_group_rule.create.end"
    assert added.payload["security_group_rule"]["id"] == rule["id"]
    assert added.payload["security_group_rule"]["port_range_min"] == 80
    compute(plane, "DELETE", f"/os-security-group-rules/{rule['id']}")
    compute(plane, "DELETE", f"/os-security-groups/{group['id']}")
    removed, dropped = heard.wait(4)[2:]
    assert removed.event_type == "security_group_rule.delete.end"
    assert removed.payload["security_group_rule_id"] == rule["id"]
    assert dropped.event_type == "security_group.delete.end"
    assert dropped.payload["security_group_id"] == group["id"]
    assert dropped.payload["security_group"]["name"] == "web"


def test_security_groups_through_the_network_service(plane: Plane, heard: Heard) -> None:
    """What the network API's groups write: the Neutron-shaped methods."""
    groups = plane.service.network.security_groups
    project = plane.show(plane.create(networks="none")["id"])["tenant_id"]
    ctx = RequestContext(user_id="u", project_id=project)
    group = groups.create_group(ctx, "db", "databases")
    rule = groups.create_rule(ctx, {"security_group_id": group.id, "direction": "ingress",
                                    "protocol": "tcp", "port_range_min": 5432,
                                    "port_range_max": 5432, "ethertype": "IPv4"})
    with pytest.raises(Conflict):
        groups.create_group(ctx, "db")  # refused: nothing told
    groups.delete_rule(ctx, rule.id)
    groups.delete_group(ctx, group.id, in_use=False)
    notes = heard.wait(4)
    assert [n.event_type for n in notes] == [
        "security_group.create.end", "security_group_rule.create.end",
        "security_group_rule.delete.end", "security_group.delete.end"]
    assert notes[1].payload["security_group_rule"]["security_group_id"] == group.id
    assert notes[3].payload["security_group"]["id"] == group.id
    assert len(heard.events()) == 4


def test_networks_subnets_ports_routers(plane: Plane, heard_topology: Heard) -> None:
    """Neutron's names and payloads (the API's views) for what the network API writes;
    a refused change tells nothing."""
    heard = heard_topology
    net = ok(plane, "POST", "/networks", json={"network": {"name": "n1"}})["network"]
    sub = ok(plane, "POST", "/subnets", json={"subnet": {
        "network_id": net["id"], "cidr": "10.99.1.0/24"}})["subnet"]
    renamed = ok(plane, "PUT", f"/networks/{net['id']}",
                 json={"network": {"name": "n2"}})["network"]
    port = ok(plane, "POST", "/ports", json={"port": {"network_id": net["id"],
                                                      "name": "p"}})["port"]
    changed = ok(plane, "PUT", f"/ports/{port['id']}",
                 json={"port": {"name": "q"}})["port"]
    refused = neutron(plane, "POST", "/subnets", json={"subnet": {
        "network_id": net["id"], "cidr": "10.99.2.0/24"}})  # one subnet a network
    assert refused.status_code == 400
    router = ok(plane, "POST", "/routers", json={"router": {"name": "r", "external_gateway_info": {
        "network_id": public_id(plane)}}})["router"]
    joined = ok(plane, "PUT", f"/routers/{router['id']}/add_router_interface",
                json={"subnet_id": sub["id"]})
    left = ok(plane, "PUT", f"/routers/{router['id']}/remove_router_interface",
              json={"subnet_id": sub["id"]})
    ok(plane, "DELETE", f"/routers/{router['id']}")
    ok(plane, "DELETE", f"/ports/{port['id']}")
    ok(plane, "DELETE", f"/subnets/{sub['id']}")
    ok(plane, "DELETE", f"/networks/{net['id']}")
    notes = heard.wait(12)
    assert [n.event_type for n in notes] == [
        "network.create.end", "subnet.create.end", "network.update.end",
        "port.create.end", "port.update.end", "router.create.end",
        "router.interface.create", "router.interface.delete", "router.delete.end",
        "port.delete.end", "subnet.delete.end", "network.delete.end"]
    assert all(n.publisher_id.startswith("network.") for n in notes)
    by = {n.event_type: n.payload for n in notes}
    assert by["network.create.end"]["network"]["id"] == net["id"]
    assert by["network.create.end"]["network"]["subnets"] == []
    assert by["subnet.create.end"] == {"subnet": sub}
    assert by["network.update.end"] == {"network": renamed}
    assert by["port.create.end"]["port"] == {**port, "binding:host_id": ""}
    assert by["port.update.end"]["port"] == {**changed, "binding:host_id": ""}
    assert by["router.create.end"] == {"router": router}
    assert by["router.interface.create"] == {"router_interface": joined}
    assert by["router.interface.delete"] == {"router_interface": left}
    assert by["router.delete.end"]["router_id"] == router["id"]
    assert by["port.delete.end"]["port_id"] == port["id"]
    assert by["port.delete.end"]["port"]["name"] == "q"
    assert by["subnet.delete.end"]["subnet"]["id"] == sub["id"]
    assert by["network.delete.end"] == {"network_id": net["id"], "network": {
        **renamed, "subnets": []}}
    assert len(heard.events()) == 12


@pytest.mark.rabbitmq
def test_on_rabbitmq_and_only_after_commit(cloud: Cloud) -> None:
    require_rabbitmq()
    namespace = new_namespace()
    sender = RabbitBus(RABBIT_URL, namespace)
    listener = RabbitBus(RABBIT_URL, namespace)
    try:
        heard = Heard(listener)
        listener.start()
        sender.start()
        db = cloud.identity.store.db
        network = new_network(db, OPTIONS, "admin-project", sender)
        network.prepare()
        notices = network.floating_ips.notices
        assert isinstance(notices, Notices)
        with pytest.raises(RuntimeError), db.transaction() as tx:
            notices.after_commit(tx, "floatingip.update.end", {"rolled": "back"})
            raise RuntimeError("the change fails")
        ctx = RequestContext(user_id="u", project_id="p" * 32)
        made = network.floating_ips.allocate(ctx, None)
        network.floating_ips.release(ctx, str(made.id))
        create, delete = heard.wait(2, timeout=20)
        assert create.event_type == "floatingip.create.end"
        assert create.publisher_id == notices.publisher_id
        assert create.payload["floatingip"]["floating_ip_address"] == made.address
        assert create.payload["floatingip"]["project_id"] == ctx.project_id
        assert delete.event_type == "floatingip.delete.end"
        assert delete.payload["floatingip_id"] == create.payload["floatingip"]["id"]
        assert heard.events() == ["floatingip.create.end", "floatingip.delete.end"]
    finally:
        stop_and_clean_up([sender, listener])
