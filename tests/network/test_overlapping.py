"""Networks that share a range on one host (two projects chose the same CIDR) and
several networks of one project: each has its namespace, bridge, dnsmasq, rules and
uplink, and nothing of one answers for the other."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace

from labs.network.agent.drivers.bridge.driver import BridgeDriver
from labs.network.specs import InvalidRequest, NetworkSpec, PortSpec, SecurityRule
from tests.network.conftest import METADATA_PORT, default_rules, network, port
from tests.network.guests import Guest, Host, listen, must

Guests = Callable[[PortSpec], Guest]


def same_range(name: str, external_ip: str) -> NetworkSpec:
    return replace(network(name, 1, external_ip), cidr="192.168.77.0/24",
                   gateway="192.168.77.1")


def vm(spec: NetworkSpec, host: int, hostname: str, mac_tail: int) -> PortSpec:
    return PortSpec(id=str(uuid.uuid4()), network_id=spec.id,
                    mac=f"fa:16:3e:77:{mac_tail:02x}:{host:02x}", ip=f"192.168.77.{host}",
                    hostname=hostname, instance_id=str(uuid.uuid4()))


def test_two_projects_networks_with_one_range_on_one_host(
        driver: BridgeDriver, make_guest: Guests, make_outside: Callable[[], Host]) -> None:
    blue, green = same_range("blue", "172.24.4.2"), same_range("green", "172.24.4.3")
    driver.ensure_network(blue)
    driver.ensure_network(green)
    assert driver.namespace(blue.id) != driver.namespace(green.id)
    pb, pg = vm(blue, 5, "web", 1), vm(green, 5, "db", 2)
    peer = vm(blue, 6, "peer", 1)
    gb, gg, gp = make_guest(pb), make_guest(pg), make_guest(peer)
    rules = [*default_rules(), SecurityRule(protocol="tcp", port_min=8080)]
    for p, members in ((pb, [pb.ip, peer.ip]), (peer, [pb.ip, peer.ip]), (pg, [pg.ip])):
        driver.set_security_rules(p.id, rules, {"default": members})
    for guest, spec, name in ((gb, blue, "web"), (gg, green, "db")):
        lease = guest.dhcp()
        assert (lease["ip"], lease["router"], lease["hostname"]) == (
            "192.168.77.5", "192.168.77.1", name)
        assert lease["domain"] == spec.dns_domain
    gp.dhcp()
    # names: each network's dnsmasq knows its own VMs only
    assert "192.168.77.5" in gb.resolve("web.blue.labs.test", "192.168.77.1")
    assert "can't find" in gb.resolve("db.green.labs.test", "192.168.77.1")
    assert "192.168.77.5" in gg.resolve("db.green.labs.test", "192.168.77.1")
    assert "can't find" in gg.resolve("peer.blue.labs.test", "192.168.77.1")
    # the same address on the other network is another machine
    with gp.listening(8080):
        assert gb.connect(peer.ip, 8080) == pb.ip
        assert gg.connect(peer.ip, 8080, timeout=0.5) is None
    # outbound leaves from each network's own uplink address; floating IPs lead in
    outside = make_outside()
    with outside.listening(9000):
        assert gb.connect("172.24.4.100", 9000) == "172.24.4.2"
    with outside.listening(9000):
        assert gg.connect("172.24.4.100", 9000) == "172.24.4.3"
    driver.add_floating_ip(pb.id, "172.24.4.10")
    driver.add_floating_ip(pg.id, "172.24.4.11")
    with gb.listening(8080):
        assert outside.connect("172.24.4.10", 8080) == "172.24.4.100"
        assert outside.connect("172.24.4.11", 8080, timeout=0.5) is None
    with gg.listening(8080):
        assert outside.connect("172.24.4.11", 8080) == "172.24.4.100"
    # metadata: each network's own listener, at the same gateway address
    for guest, spec, address in ((gb, blue, pb.ip), (gg, green, pg.ip)):
        with listen(driver.namespace(spec.id), spec.gateway, METADATA_PORT, 8.0):
            assert guest.connect("169.254.169.254", 80) == address
    # one network going leaves the other whole
    for p in (pb, peer):
        driver.unplug(p.id)
    driver.delete_network(blue.id)
    assert "192.168.77.5" in gg.resolve("db.green.labs.test", "192.168.77.1")
    with outside.listening(9000):
        assert gg.connect("172.24.4.100", 9000) == "172.24.4.11"


def test_two_networks_of_one_project_coexist(
        driver: BridgeDriver, make_guest: Guests) -> None:
    front = network("shop", 1, "172.24.4.2")
    back = replace(network("shop", 2, "172.24.4.3"), project_id=front.project_id)
    driver.ensure_network(front)
    driver.ensure_network(back)
    a, b = port(front, 5, "front"), port(back, 5, "back")
    ga, gb = make_guest(a), make_guest(b)
    for p in (a, b):
        driver.set_security_rules(p.id, default_rules(), {"default": [a.ip, b.ip]})
    assert ga.dhcp()["ip"] == a.ip and gb.dhcp()["ip"] == b.ip
    assert "10.68.1.5" in ga.resolve("front.shop.labs.test", "10.68.1.1")
    assert "10.68.2.5" in gb.resolve("back.shop.labs.test", "10.68.2.1")
    # separate networks: no path between them (there is no router between networks)
    assert not ga.ping(b.ip)
    must("ip", "-n", driver.namespace(back.id), "link", "show")


def test_a_subnet_without_dhcp_gives_no_lease_and_its_name_servers_are_handed_out(
        driver: BridgeDriver, make_guest: Guests) -> None:
    quiet = replace(network("quiet", 1), dhcp=False)
    named = replace(network("named", 2), dns_servers=("9.9.9.9", "1.1.1.1"))
    driver.ensure_network(quiet)
    driver.ensure_network(named)
    gq, gn = make_guest(port(quiet, 5, "q")), make_guest(port(named, 5, "n"))
    try:
        gq.dhcp()
    except AssertionError as exc:
        assert "no DHCP lease" in str(exc)
    else:
        raise AssertionError("a lease on a network without DHCP")
    must("ip", "-n", gq.netns, "addr", "add", "10.68.1.5/24", "dev", "eth0")
    assert "10.68.1.5" in gq.resolve("q.quiet.labs.test", "10.68.1.1")  # DNS stays
    lease = gn.dhcp()
    assert lease["dns"].split() == ["9.9.9.9", "1.1.1.1"] and lease["router"] == "10.68.2.1"
    # turned on again (the subnet changed): the next lease comes
    driver.ensure_network(replace(quiet, dhcp=True))
    assert gq.dhcp()["ip"] == "10.68.1.5"


def test_a_deleted_networks_uplink_address_goes_to_the_next_network(
        driver: BridgeDriver, make_guest: Guests) -> None:
    """A network deleted through the API after its last VM left a host stays there until
    its uplink address is handed to another network: then it goes."""
    old, busy = network("old", 1, "172.24.4.2"), network("busy", 3, "172.24.4.4")
    driver.ensure_network(old)
    driver.ensure_network(busy)
    make_guest(port(busy, 5, "b"))
    new = network("new", 2, "172.24.4.2")
    driver.ensure_network(new)
    assert [s.id for s in driver.list_networks() if s.external_ip == "172.24.4.2"] == [new.id]
    assert old.id not in [s.id for s in driver.list_networks()]
    try:
        driver.ensure_network(network("thief", 4, "172.24.4.4"))
    except InvalidRequest as exc:
        assert "172.24.4.4 is network" in str(exc)
    else:
        raise AssertionError("a network with ports lost its uplink address")
