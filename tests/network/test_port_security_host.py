"""A port's security as the bridge driver enforces it with real kernel objects: a port
in no group lets nothing new in, a port without port security sends as anyone, an
allowed address pair is one more address (and MAC) a port may send from; and a subnet's
name servers and host routes reach a running network through the agent's `apply`."""

from __future__ import annotations

from collections.abc import Callable

from labs.network.agent.drivers.bridge.driver import BridgeDriver
from labs.network.agent.host import HostNetworking
from labs.network.instance_spec import AddressPair, InstancePort, PortSecurity
from labs.network.security_groups import NOTHING_OUT
from labs.network.specs import PortSpec, SecurityRule
from tests.network import frames
from tests.network.conftest import default_rules, network, port
from tests.network.guests import Guest, must, sniffing

Guests = Callable[[PortSpec], Guest]
PAIR_MAC = "fa:16:3e:00:00:09"


def test_a_port_in_no_group_lets_nothing_new_in_or_out(
        driver: BridgeDriver, make_guest: Guests) -> None:
    spec = network("bots", 1)
    driver.ensure_network(spec)
    pa, pb = port(spec, 5, "a"), port(spec, 6, "b")
    ga, gb = make_guest(pa), make_guest(pb)
    ga.dhcp()
    gb.dhcp()
    members = {"default": [pa.ip, pb.ip]}
    for p in (pa, pb):
        driver.set_security_rules(p.id, default_rules(), members)
    with gb.listening(22), ga.listening(22):
        assert ga.connect(pb.ip, 22) == pa.ip
        driver.set_security_rules(pb.id, [NOTHING_OUT], {})  # what no group gives
        assert ga.connect(pb.ip, 22, timeout=0.5) is None
        assert gb.connect(pa.ip, 22, timeout=0.5) is None
        assert not ga.ping(pb.ip)


def test_port_security_off_and_address_pairs_on_the_anti_spoofing_filter(
        driver: BridgeDriver, make_guest: Guests) -> None:
    spec = network("bots", 1)
    driver.ensure_network(spec)
    pa, pv = port(spec, 5, "sender"), port(spec, 6, "victim")
    sender, victim = make_guest(pa), make_guest(pv)
    sender.dhcp()
    victim.dhcp()
    driver.set_security_rules(pv.id, [SecurityRule()], {})  # lets anything in

    def udp(mac: str, source: str, marker: str) -> bytes:
        return frames.udp4(mac, pv.mac, source, pv.ip, 5000, 5000, marker)

    sent = {"own": udp(pa.mac, pa.ip, "own"),
            "spoofed": udp(pa.mac, "10.68.1.77", "spoofed"),
            "pair-ip": udp(pa.mac, "10.68.1.50", "pair-ip"),
            "pair-net": udp(pa.mac, "10.68.1.70", "pair-net"),
            "pair-mac": udp(PAIR_MAC, "10.68.1.9", "pair-mac"),
            "pair-ip-other-mac": udp(PAIR_MAC, "10.68.1.50", "pair-ip-other-mac"),
            "other-mac": udp("fa:16:3e:99:99:99", pa.ip, "other-mac")}

    def seen_by_victim() -> set[str]:
        with sniffing(victim.netns, list(sent), seconds=1.5) as seen:
            sender.send_frames(list(sent.values()))
        return seen

    assert seen_by_victim() == {"own"}
    pairs = [AddressPair("10.68.1.50"), AddressPair("10.68.1.64/29"),
             AddressPair("10.68.1.9", PAIR_MAC)]
    driver.set_security_rules(pa.id, [], {}, allowed_pairs=pairs)
    assert seen_by_victim() == {"own", "pair-ip", "pair-net", "pair-mac"}
    driver.set_security_rules(pa.id, [], {}, port_security=False)
    assert seen_by_victim() == set(sent)
    driver.set_security_rules(pa.id, [], {})
    assert seen_by_victim() == {"own"}


def test_traffic_to_an_address_pair_meets_the_ports_ingress_rules(
        driver: BridgeDriver, make_guest: Guests) -> None:
    spec = network("bots", 1)
    driver.ensure_network(spec)
    pa, pb = port(spec, 5, "a"), port(spec, 6, "vip")
    ga, gb = make_guest(pa), make_guest(pb)
    ga.dhcp()
    gb.dhcp()
    must("ip", "-n", gb.netns, "addr", "add", "10.68.1.50/24", "dev", "eth0")
    only_80 = [SecurityRule(protocol="tcp", port_min=80, port_max=80)]
    driver.set_security_rules(pb.id, only_80, {}, allowed_pairs=[AddressPair("10.68.1.50")])
    with gb.listening(80), gb.listening(22):
        assert ga.connect("10.68.1.50", 80) == pa.ip
        assert ga.connect("10.68.1.50", 22, timeout=0.5) is None


def test_a_subnets_name_servers_and_host_routes_reach_a_running_network(
        driver: BridgeDriver, make_guest: Guests) -> None:
    spec = network("bots", 1)
    driver.ensure_network(spec)
    p = port(spec, 5, "a")
    guest = make_guest(p)
    first = guest.dhcp()
    assert (first["dns"], "staticroutes" in first) == (spec.gateway, False)
    changed = InstancePort(
        network_id=spec.id, label="lan", cidr=spec.cidr, gateway=spec.gateway,
        external_ip=None, project_id=spec.project_id, domain="labs.test",
        dns_domain=spec.dns_domain, port_id=p.id, address=p.ip, mac=p.mac,
        hostname=p.hostname, dns_servers=("9.9.9.9",),
        host_routes=(("192.168.50.0/24", "10.68.1.9"),),
        security=PortSecurity(rules=tuple(default_rules()), members={"default": [p.ip]}))
    HostNetworking(driver).apply(changed, None)  # what a refresh_network cast ends in
    conf = (driver.state.network_dir(spec.id) / "dnsmasq.conf").read_text()
    assert "option:classless-static-route,192.168.50.0/24,10.68.1.9,0.0.0.0/0,10.68.1.1" \
        in conf and "option:dns-server,9.9.9.9" in conf
    lease = guest.dhcp()
    assert lease["dns"] == "9.9.9.9"
    assert lease["staticroutes"].split() == ["192.168.50.0/24", "10.68.1.9",
                                             "0.0.0.0/0", "10.68.1.1"]
