"""What a hostile VM, another project's VM or a host on the public side can reach of a
network's namespace and of the other VMs: only what the network's own VMs need
(DHCP, DNS and metadata through its redirect), and nothing sent as someone else."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from labs.network.agent.drivers.bridge.driver import BridgeDriver
from labs.network.agent.netns_sockets import listen_in_namespace
from labs.network.specs import PortSpec, SecurityRule
from tests.network import frames
from tests.network.conftest import METADATA_PORT, default_rules, network, port
from tests.network.guests import Guest, Host, listen, must, sh, sniffing

Guests = Callable[[PortSpec], Guest]


def mac_of(netns: str, device: str) -> str:
    return str(json.loads(must("ip", "-j", "-n", netns, "link", "show", device))[0]
               ["address"])


def test_a_vm_sends_only_as_itself_and_never_as_a_dhcp_server_or_router(
        driver: BridgeDriver, make_guest: Guests) -> None:
    spec = network("bots", 1)
    driver.ensure_network(spec)
    pa, pv = port(spec, 5, "rogue"), port(spec, 6, "victim")
    rogue, victim = make_guest(pa), make_guest(pv)
    rogue.dhcp()
    victim.dhcp()
    for p in (pa, pv):  # the victim accepts anything from the rogue, a fellow member
        driver.set_security_rules(p.id, default_rules(), {"default": [pa.ip, pv.ip]})
    sent = {
        "own": frames.udp4(pa.mac, pv.mac, pa.ip, pv.ip, 5000, 5000, "own"),
        "spoofed-ip": frames.udp4(pa.mac, pv.mac, "10.68.1.77", pv.ip, 5000, 5000,
                                  "spoofed-ip"),
        "spoofed-mac": frames.udp4("fa:16:3e:99:99:99", pv.mac, pa.ip, pv.ip, 5000, 5000,
                                   "spoofed-mac"),
        "arp-gateway": frames.arp_reply(pa.mac, spec.gateway, frames.BROADCAST, pv.ip,
                                        "arp-gateway"),
        "dhcp-offer": frames.udp4(pa.mac, frames.BROADCAST, pa.ip, "255.255.255.255", 67,
                                  68, "dhcp-offer"),
        "dhcp-unicast": frames.udp4(pa.mac, pv.mac, pa.ip, pv.ip, 67, 68, "dhcp-unicast"),
        "router-ad": frames.router_advertisement(pa.mac, "router-ad"),
    }
    with sniffing(victim.netns, list(sent), seconds=2.0) as seen:
        rogue.send_frames(list(sent.values()))
    assert seen == {"own"}


def test_the_public_side_and_other_projects_reach_no_service_of_a_network(
        driver: BridgeDriver, make_guest: Guests, make_outside: Callable[[], Host]) -> None:
    bots, tools = network("bots", 1, "172.24.4.2"), network("tools", 2, "172.24.4.3")
    driver.ensure_network(bots)
    driver.ensure_network(tools)
    pa, pt = port(bots, 5, "web-1"), port(tools, 5, "x")
    web, stranger = make_guest(pa), make_guest(pt)
    web.dhcp()
    stranger.dhcp()
    outside = make_outside()
    namespace = driver.namespace(bots.id)
    # The outside world knows where the network is (any router on the public side may).
    must("ip", "-n", outside.netns, "route", "add", bots.cidr, "via", bots.external_ip)
    relay = listen_in_namespace(namespace, "127.0.0.1", 53, udp=True)
    with relay, listen(namespace, bots.gateway, METADATA_PORT, 10.0):
        # The network's own VM: DNS from dnsmasq, metadata through the redirect only.
        assert web.asks_dns(bots.gateway)
        assert web.connect("169.254.169.254", 80) == pa.ip
        assert web.connect(bots.gateway, METADATA_PORT, timeout=0.5) is None
        assert web.ping(bots.gateway)
        # The public side does not even learn where the network's gateway is.
        assert sh("busybox", "arping", "-c", "1", "-w", "1", "-I", "eth0", bots.gateway,
                  netns=outside.netns).returncode != 0
        for where in (bots.gateway, bots.external_ip):
            assert not outside.asks_dns(where, timeout=0.5), where
            assert outside.connect(where, METADATA_PORT, timeout=0.5) is None, where
            assert not stranger.asks_dns(where, timeout=0.5), where
            assert stranger.connect(where, METADATA_PORT, timeout=0.5) is None, where
        # The relay's listener on the namespace's loopback is not reached through the
        # bridge, even by a frame sent straight to it.
        gateway_mac = mac_of(namespace, driver.bridge_name(bots.id))
        relay.settimeout(0.5)
        web.send_frames([frames.udp4(pa.mac, gateway_mac, pa.ip, "127.0.0.1", 5353, 53,
                                     "to-relay")])
        try:
            got = relay.recv(512)
        except TimeoutError:
            got = b""
        assert b"to-relay" not in got


def test_the_public_side_cannot_pass_as_a_vm_of_the_network(
        driver: BridgeDriver, make_guest: Guests, make_outside: Callable[[], Host]) -> None:
    spec = network("bots", 1, "172.24.4.2")
    driver.ensure_network(spec)
    pa, pb = port(spec, 5, "web-1"), port(spec, 6, "db-1")
    web, db = make_guest(pa), make_guest(pb)
    web.dhcp()
    db.dhcp()
    members = {"default": [pa.ip, pb.ip]}
    for p in (pa, pb):  # UDP only from members: the outside gets nothing
        driver.set_security_rules(p.id, [SecurityRule(remote_group="default")], members)
    fip = "172.24.4.10"
    driver.add_floating_ip(pa.id, fip)
    outside = make_outside()
    outside_mac = mac_of(outside.netns, "eth0")
    uplink_mac = mac_of(driver.namespace(spec.id), driver.uplink_name(spec.id))
    sent = [frames.udp4(outside_mac, uplink_mac, "172.24.4.100", fip, 5000, 5000, "honest"),
            frames.udp4(outside_mac, uplink_mac, pb.ip, fip, 5000, 5000, "as-member")]
    with sniffing(web.netns, ["honest", "as-member"], seconds=2.0) as seen:
        outside.send_frames(sent)
    assert seen == set()




def test_broadcasts_and_multicasts_meet_each_receivers_rules(
        driver: BridgeDriver, make_guest: Guests) -> None:
    spec = network("bots", 1)
    driver.ensure_network(spec)
    pa, pv, pw = port(spec, 5, "sender"), port(spec, 6, "closed"), port(spec, 7, "open")
    sender, closed, open_ = make_guest(pa), make_guest(pv), make_guest(pw)
    for guest in (sender, closed, open_):
        guest.dhcp()
    driver.set_security_rules(pv.id, default_rules(), {"default": [pv.ip]})
    driver.set_security_rules(pw.id, [SecurityRule(protocol="udp", port_min=5000)], {})
    sent = {
        "unicast": frames.udp4(pa.mac, pv.mac, pa.ip, pv.ip, 5000, 5000, "unicast"),
        "subnet": frames.udp4(pa.mac, frames.BROADCAST, pa.ip, "10.68.1.255", 5000, 5000,
                              "subnet"),
        "limited": frames.udp4(pa.mac, frames.BROADCAST, pa.ip, "255.255.255.255", 5000,
                               5000, "limited"),
        "multicast": frames.udp4(pa.mac, "01:00:5e:00:00:fb", pa.ip, "224.0.0.251", 5000,
                                 5000, "multicast"),
        "other-port": frames.udp4(pa.mac, frames.BROADCAST, pa.ip, "255.255.255.255", 5001,
                                  5001, "other-port"),
    }
    with sniffing(closed.netns, list(sent), seconds=2.0) as closed_saw, \
            sniffing(open_.netns, list(sent), seconds=2.0) as open_saw:
        sender.send_frames(list(sent.values()))
    assert closed_saw == set()
    assert open_saw == {"subnet", "limited", "multicast"}


def test_a_vm_flooding_dhcp_neither_fills_the_log_nor_loses_its_lease(
        driver: BridgeDriver, make_guest: Guests, state_dir: Path) -> None:
    spec = network("bots", 1)
    driver.ensure_network(spec)
    p = port(spec, 5, "flood")
    guest = make_guest(p)
    guest.dhcp()
    log = next(state_dir.rglob("dnsmasq.log"))
    before = log.stat().st_size
    flood = [frames.dhcp_discover(p.mac, p.mac if i % 2 else f"fa:16:3e:77:{i >> 8:02x}:"
                                  f"{i & 255:02x}", i) for i in range(600)]
    for start in range(0, len(flood), 100):
        guest.send_frames(flood[start:start + 100])
    time.sleep(1.0)  # dnsmasq has read them all
    assert log.stat().st_size - before < 2000
    time.sleep(1.0)
    assert guest.dhcp()["ip"] == p.ip
