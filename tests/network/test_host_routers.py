"""A host follows its servers' user routers, with real namespaces and stand-in VMs: the
agent's networking (`HostNetworking` with `HostRouters` over the bridge driver) joins a
project's two networks on one router when their ports' specs say so; they reach each
other and leave through the router (a network's own uplink is not used meanwhile), a
floating IP comes in through it, a network on no router is reached from neither; when
the networks leave, the router goes and the uplink comes back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from labs.network.agent import netns
from labs.network.agent.drivers.bridge.driver import BridgeDriver
from labs.network.agent.drivers.bridge.host_routers import HostRouters
from labs.network.agent.drivers.bridge.routing import NETWORK_SIDE
from labs.network.agent.host import HostNetworking
from labs.network.instance_spec import InstancePort, PortSecurity, RouterPart
from labs.network.specs import NetworkSpec, PortSpec
from tests.network.conftest import default_rules, port
from tests.network.guests import Guest, Host, must

Guests = Callable[[PortSpec], Guest]


def project_network(name: str, third_octet: int, external_ip: str | None = None
                    ) -> NetworkSpec:
    return NetworkSpec(id=f"net-{name}", project_id="demo", cidr=f"10.68.{third_octet}.0/24",
                       gateway=f"10.68.{third_octet}.1", dns_domain="demo.labs.test",
                       external_ip=external_ip)


def instance_port(spec: NetworkSpec, p: PortSpec, members: list[str],
                  router: RouterPart | None = None,
                  floating_ips: tuple[str, ...] = ()) -> InstancePort:
    """The ``network`` part of a server's spec for port `p` on `spec`."""
    return InstancePort(
        network_id=spec.id, label=spec.id, cidr=spec.cidr, gateway=spec.gateway,
        external_ip=spec.external_ip, project_id=spec.project_id, domain="labs.test",
        dns_domain=spec.dns_domain, port_id=p.id, address=p.ip, mac=p.mac,
        hostname=p.hostname, floating_ips=floating_ips, router=router,
        security=PortSecurity(tuple(default_rules()), {"default": members}))


def test_a_router_joins_a_projects_networks_on_the_host(
        driver: BridgeDriver, make_guest: Guests, make_outside: Callable[[], Host]) -> None:
    one = project_network("one", 1, external_ip="172.24.4.200")  # its own uplink
    two, three = project_network("two", 2), project_network("three", 3)
    for spec in (one, two, three):
        driver.ensure_network(spec)
    p1, p2, p3 = port(one, 5, "a"), port(two, 5, "b"), port(three, 5, "c")
    g1, g2, g3 = (make_guest(p) for p in (p1, p2, p3))
    members = [p1.ip, p2.ip, p3.ip]
    host = HostNetworking(driver, routers=HostRouters(driver))
    router = RouterPart("r1", "172.24.4.20", ((one.id, one.cidr), (two.id, two.cidr)),
                        (("172.24.4.30", p1.ip),))
    i1 = instance_port(one, p1, members, router, ("172.24.4.30",))
    i2 = instance_port(two, p2, members, router)
    i3 = instance_port(three, p3, members)
    for instance in (i1, i2, i3):
        host.apply(instance, None)
    host.apply(i1, i1)  # a repeat changes nothing
    routers = host.routers
    assert isinstance(routers, HostRouters)
    assert netns.exists(routers.routing.namespace("r1"))
    assert not netns.link_exists(driver.namespace(one.id), driver.uplink_name(one.id))
    assert all(g.dhcp()["ip"] == p.ip for g, p in ((g1, p1), (g2, p2), (g3, p3)))

    # one and two reach each other with their own addresses; three is on no router
    assert g1.ping(p2.ip) and g2.ping(p1.ip)
    with g2.listening(22):
        assert g1.connect(p2.ip, 22) == p1.ip
    assert not g1.ping(p3.ip) and not g3.ping(p1.ip) and not g3.ping(p2.ip)
    # both leave through the router's address; the floating IP leads to p1
    outside = make_outside()
    with outside.listening(9000):
        assert g2.connect("172.24.4.100", 9000) == "172.24.4.20"
    with outside.listening(9000):
        assert g1.connect("172.24.4.100", 9000) == "172.24.4.30"
    assert outside.ping("172.24.4.30")

    # two leaves the router: cut off from one and from the outside; one keeps both
    host.apply(replace(i2, router=None), i2)
    assert not netns.link_exists(driver.namespace(two.id), NETWORK_SIDE)
    assert not g2.ping(p1.ip) and not g2.ping("172.24.4.100")
    assert g1.ping("172.24.4.100") and outside.ping("172.24.4.30")
    # one leaves too, told to a restarted agent (which never saw the router): the
    # router goes and one's own uplink is back
    restarted = HostNetworking(driver, routers=HostRouters(driver))
    restarted.apply(replace(i1, router=None), None)
    assert not netns.exists(routers.routing.namespace("r1"))
    assert netns.link_exists(driver.namespace(one.id), driver.uplink_name(one.id))
    # the address moved to another MAC, and nothing announced it: forget the old one
    must("ip", "-n", outside.netns, "neigh", "flush", "all")
    with outside.listening(9000):
        assert g1.connect("172.24.4.100", 9000) == "172.24.4.30"  # its uplink's FIP now
    assert not g1.ping(p2.ip)
