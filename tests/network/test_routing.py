"""Routers on a host, with real namespaces and stand-in VMs: a router's networks reach
each other, a network on another router does not; a router's networks leave through its
external IP and its floating IPs lead in; the router's namespace goes with its routes."""

from __future__ import annotations

from collections.abc import Callable

from labs.network.agent import netns
from labs.network.agent.drivers.bridge.driver import BridgeDriver
from labs.network.agent.drivers.bridge.routing import (
    NETWORK_SIDE,
    Joined,
    RouterSpec,
    Routing,
)
from labs.network.specs import PortSpec
from labs.wiring.operate import prefix_namespaces
from tests.network.conftest import default_rules, network, port
from tests.network.guests import Guest, Host

Guests = Callable[[PortSpec], Guest]


def routing_of(driver: BridgeDriver) -> Routing:
    return Routing(driver.prefix, driver.external_namespace, driver.external_net,
                   driver.external_gateway)


def test_a_routers_networks_reach_each_other_and_leave_through_it(
        driver: BridgeDriver, make_guest: Guests, make_outside: Callable[[], Host]) -> None:
    one, two, three = network("one", 1), network("two", 2), network("three", 3)
    for spec in (one, two, three):
        driver.ensure_network(spec)
    p1, p2, p3 = port(one, 5, "a"), port(two, 5, "b"), port(three, 5, "c")
    guests = [make_guest(p) for p in (p1, p2, p3)]
    for p in (p1, p2, p3):
        driver.set_security_rules(p.id, default_rules(), {"default": [p.ip]})
    g1, g2, g3 = guests
    for guest, p in zip(guests, (p1, p2, p3), strict=True):
        assert guest.dhcp()["ip"] == p.ip
    routing = routing_of(driver)
    joined = {s.id: Joined(driver.namespace(s.id), s.cidr) for s in (one, two, three)}
    r1 = RouterSpec("r1", (joined[one.id], joined[two.id]), external_ip="172.24.4.20")
    r2 = RouterSpec("r2", (joined[three.id],), external_ip="172.24.4.21")
    routing.ensure(r1)
    routing.ensure(r2)
    routing.ensure(r1)  # a repeat changes nothing
    # labs down and labs status find routers' namespaces as leftovers
    assert {routing.namespace("r1"), routing.namespace("r2")} <= set(
        prefix_namespaces(driver.prefix))
    # one and two are on r1: they reach each other, with their own source addresses
    assert g1.ping(p2.ip) and g2.ping(p1.ip)
    with g2.listening(22):
        assert g1.connect(p2.ip, 22) == p1.ip  # ssh from the cloud's range is allowed
    # three is on r2 only: nothing leads there from one or two, nor back
    assert not g1.ping(p3.ip) and not g3.ping(p1.ip)
    # out through each router's external IP
    outside = make_outside()
    with outside.listening(9000):
        assert g1.connect("172.24.4.100", 9000) == "172.24.4.20"
    with outside.listening(9000):
        assert g2.connect("172.24.4.100", 9000) == "172.24.4.20"
    with outside.listening(9000):
        assert g3.connect("172.24.4.100", 9000) == "172.24.4.21"
    # a floating IP on r1 leads to p1 (its ingress rules allow ssh from the cloud only:
    # the outside host's port 22 is refused, ICMP is not), and p1 leaves from it
    assert not outside.ping("172.24.4.30")
    routing.ensure(RouterSpec("r1", r1.networks, r1.external_ip,
                              (("172.24.4.30", p1.ip),)))
    assert outside.ping("172.24.4.30")
    with outside.listening(9000):
        assert g1.connect("172.24.4.100", 9000) == "172.24.4.30"
    with outside.listening(9000):
        assert g2.connect("172.24.4.100", 9000) == "172.24.4.20"
    # two taken off r1: it is cut off from one and from the outside
    routing.ensure(RouterSpec("r1", (joined[one.id],), r1.external_ip,
                              (("172.24.4.30", p1.ip),)))
    routing.delete("r-none")  # an unknown router is no error
    assert not netns.link_exists(driver.namespace(two.id), NETWORK_SIDE)
    assert not g2.ping(p1.ip) and not g2.ping("172.24.4.100")
    assert g1.ping("172.24.4.100")
    routing.delete("r2", (joined[three.id],))
    assert not netns.exists(routing.namespace("r2"))
    assert not netns.link_exists(driver.namespace(three.id), NETWORK_SIDE)
    assert not g3.ping("172.24.4.100")
