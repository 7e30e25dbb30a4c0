"""The bridge driver with real kernel objects, dnsmasq and nftables: DHCP and names,
reachability inside a project and not across projects, security rules, floating IPs and
the metadata address."""

from __future__ import annotations

from collections.abc import Callable

from labs.network.agent.drivers.bridge.driver import BridgeDriver
from labs.network.specs import PortSpec, SecurityRule
from tests.network.conftest import METADATA_PORT, default_rules, network, port
from tests.network.guests import Guest, Host, listen, must

Guests = Callable[[PortSpec], Guest]


def test_a_vm_gets_its_static_lease_hostname_and_search_domain(
        driver: BridgeDriver, make_guest: Guests) -> None:
    spec = network("bots", 1)
    driver.ensure_network(spec)
    web = make_guest(port(spec, 5, "web-1"))
    lease = web.dhcp()
    assert lease["ip"] == "10.68.1.5"
    assert lease["mask"] == "24"
    assert lease["router"] == lease["dns"] == "10.68.1.1"
    assert lease["hostname"] == "web-1"
    assert lease["domain"] == "bots.labs.test"
    assert lease["search"] == "bots.labs.test"
    assert lease["mtu"] == "1500"
    assert "10.68.1.5" in web.resolve("web-1.bots.labs.test", "10.68.1.1")
    assert "NXDOMAIN" in web.resolve("nobody.bots.labs.test", "10.68.1.1")


def test_vms_of_one_project_reach_each_other_and_no_other_project(
        driver: BridgeDriver, make_guest: Guests) -> None:
    bots, tools = network("bots", 1, "172.24.4.2"), network("tools", 2, "172.24.4.3")
    driver.ensure_network(bots)
    driver.ensure_network(tools)
    a, b = port(bots, 5, "a"), port(bots, 6, "b")
    other = port(tools, 5, "c")
    guests = {p.id: make_guest(p) for p in (a, b, other)}
    for p in (a, b, other):
        guests[p.id].dhcp()
    members = {"default": [a.ip, b.ip]}
    for p in (a, b):
        driver.set_security_rules(p.id, default_rules(), members)
    driver.set_security_rules(other.id, default_rules(), {"default": [other.ip]})

    ga, gb, gc = guests[a.id], guests[b.id], guests[other.id]
    assert ga.ping(b.ip) and gb.ping(a.ip)
    with gb.listening(8080):
        assert ga.connect(b.ip, 8080) == a.ip
        assert gc.connect(b.ip, 8080) is None
    assert not gc.ping(a.ip)
    assert not ga.ping(other.ip)


def test_security_rules_allow_members_icmp_and_ssh_and_drop_the_rest(
        driver: BridgeDriver, make_guest: Guests) -> None:
    spec = network("bots", 1)
    driver.ensure_network(spec)
    a, stranger = port(spec, 5, "a"), port(spec, 6, "stranger")
    ga, gs = make_guest(a), make_guest(stranger)
    ga.dhcp()
    gs.dhcp()
    rules = default_rules()
    driver.set_security_rules(a.id, rules, {"default": [a.ip]})  # the stranger is no member
    with ga.listening(22), ga.listening(8080):
        assert gs.ping(a.ip)
        assert gs.connect(a.ip, 22) == stranger.ip
        assert gs.connect(a.ip, 8080, timeout=0.5) is None
        driver.set_security_rules(a.id, [r for r in rules if r.protocol != "tcp"],
                                  {"default": [a.ip]})
        assert gs.connect(a.ip, 22, timeout=0.5) is None
        assert gs.ping(a.ip)
        driver.set_security_rules(a.id, rules, {"default": [a.ip, stranger.ip]})
        assert gs.connect(a.ip, 8080) == stranger.ip
        # Egress rules: with one, the port may only send what they allow.
        driver.set_security_rules(gs_port := stranger.id,
                                  [SecurityRule(direction="egress", protocol="tcp",
                                                port_min=22)], {})
        assert gs.connect(a.ip, 22) == stranger.ip
        assert gs.connect(a.ip, 8080, timeout=0.5) is None
        assert not gs.ping(a.ip)
        driver.set_security_rules(gs_port, [], {})
        assert gs.ping(a.ip)


def test_a_floating_ip_makes_a_vm_reachable_from_outside_until_removed(
        driver: BridgeDriver, make_guest: Guests, make_outside: Callable[[], Host]) -> None:
    spec = network("bots", 1, "172.24.4.2")
    driver.ensure_network(spec)
    outside = make_outside()
    a = port(spec, 5, "a")
    ga = make_guest(a)
    ga.dhcp()
    driver.set_security_rules(a.id, [*default_rules(),
                                     SecurityRule(protocol="tcp", port_min=8080)], {})
    fip = "172.24.4.10"
    # Without a floating IP the fixed IP is not reachable, even with a route to it.
    must("ip", "-n", outside.netns, "route", "add", spec.cidr, "via", "172.24.4.2")
    with ga.listening(8080):
        assert outside.connect(a.ip, 8080, timeout=0.5) is None
        driver.add_floating_ip(a.id, fip)
        driver.add_floating_ip(a.id, fip)  # repeatable
        assert outside.ping(fip)
        assert outside.connect(fip, 8080) == "172.24.4.100"
        assert outside.connect(fip, 22, timeout=0.5) is None  # ssh only from the cloud
        with outside.listening(9000):
            assert ga.connect("172.24.4.100", 9000) == fip  # outbound leaves from it
        driver.remove_floating_ip(a.id, fip)
        assert not outside.ping(fip)
        assert outside.connect(fip, 8080, timeout=0.5) is None
    with outside.listening(9000):  # without one, outbound is masqueraded
        assert ga.connect("172.24.4.100", 9000) == "172.24.4.2"


def test_the_metadata_address_leads_to_the_networks_metadata_listener(
        driver: BridgeDriver, make_guest: Guests) -> None:
    spec = network("bots", 1)
    driver.ensure_network(spec)
    a = port(spec, 5, "a")
    ga = make_guest(a)
    ga.dhcp()
    with listen(driver.namespace(spec.id), spec.gateway, METADATA_PORT, 8.0):
        assert ga.connect("169.254.169.254", 80) == a.ip
