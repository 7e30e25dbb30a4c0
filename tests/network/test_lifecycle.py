"""What unplug, delete_network and an agent restart leave behind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from labs.network.agent import netns
from labs.network.agent.drivers.bridge import nft
from labs.network.agent.drivers.bridge.dnsmasq import Dnsmasq
from labs.network.agent.drivers.bridge.driver import BridgeDriver
from labs.network.specs import PortSpec
from tests.network.conftest import METADATA_PORT, default_rules, network, port
from tests.network.guests import Guest, must

Guests = Callable[[PortSpec], Guest]


def running(pid: int) -> bool:
    """Whether the process exists and is no zombie (its parent may not reap it here)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_unplug_leaves_no_interface_lease_name_or_rule(driver: BridgeDriver) -> None:
    spec = network("bots", 1, "172.24.4.2")
    driver.ensure_network(spec)
    kept, gone = port(spec, 5, "kept"), port(spec, 6, "gone")
    driver.plug(kept)
    attachment = driver.plug(gone)
    assert attachment.kind == "tap" and attachment.peer is None
    assert attachment.netns == driver.namespace(spec.id)
    driver.set_security_rules(gone.id, default_rules(), {"default": [kept.ip, gone.ip]})
    driver.add_floating_ip(gone.id, "172.24.4.20")
    ns, directory = attachment.netns, driver.state.network_dir(spec.id)
    assert netns.link_exists(ns, attachment.device)
    assert gone.mac in (directory / "dhcp-hosts").read_text()

    driver.unplug(gone.id)
    driver.unplug(gone.id)  # a missing port is fine
    assert not netns.link_exists(ns, attachment.device)
    for name in ("dhcp-hosts", "hosts"):
        text = (directory / name).read_text()
        assert gone.mac not in text and gone.ip not in text and "gone" not in text
        assert kept.ip in text
    rules = nft.listing(ns)
    assert attachment.device not in rules and gone.ip not in rules
    assert "172.24.4.20" not in rules
    assert "172.24.4.20" not in must("ip", "-n", ns, "addr")
    assert [a.port_id for a in driver.list_ports()] == [kept.id]


def test_delete_network_leaves_no_namespace_process_or_file(driver: BridgeDriver) -> None:
    spec = network("bots", 1, "172.24.4.2")
    driver.ensure_network(spec)
    driver.plug(port(spec, 5, "a"))
    dnsmasq = Dnsmasq(driver.state.network_dir(spec.id), driver.namespace(spec.id),
                      driver.bridge_name(spec.id))
    pid = dnsmasq.pid()
    assert pid is not None

    driver.delete_network(spec.id)
    driver.delete_network(spec.id)  # a missing network is fine
    assert not netns.exists(driver.namespace(spec.id))
    assert not netns.exists(driver.external_namespace)
    assert not running(pid)
    assert not driver.state.network_dir(spec.id).exists()
    assert driver.list_networks() == [] and driver.list_ports() == []


def test_a_restarted_agent_finds_and_unplugs_the_ports(
        driver: BridgeDriver, make_guest: Guests) -> None:
    spec = network("bots", 1)
    driver.ensure_network(spec)
    a, b = port(spec, 5, "a"), port(spec, 6, "b")
    ga = make_guest(a)
    driver.plug(b)
    ga.dhcp()
    before = Dnsmasq(driver.state.network_dir(spec.id), driver.namespace(spec.id),
                     driver.bridge_name(spec.id)).pid()

    again = BridgeDriver(driver.state.root, prefix=driver.prefix,
                         metadata_port=METADATA_PORT)
    assert again.list_networks() == [spec]
    assert sorted(again.list_ports(), key=lambda x: x.port_id) == \
        sorted(driver.list_ports(), key=lambda x: x.port_id)
    again.ensure_network(spec)  # adopts: nothing restarted
    assert Dnsmasq(driver.state.network_dir(spec.id), driver.namespace(spec.id),
                   driver.bridge_name(spec.id)).pid() == before
    assert again.plug(b).device == driver.device_name(b.id)  # a repeat plug is fine
    for attachment in again.list_ports():
        again.unplug(attachment.port_id)
        assert not netns.link_exists(attachment.netns, attachment.device)
    assert again.list_ports() == []
    assert not ga.ping(spec.gateway)


def test_remove_all_leaves_no_namespace_process_or_record(driver: BridgeDriver) -> None:
    specs = [network("bots", 1, "172.24.4.2"), network("tools", 2, "172.24.4.3")]
    pids = []
    for spec in specs:
        driver.ensure_network(spec)
        driver.plug(port(spec, 5, "vm"))
        dnsmasq = Dnsmasq(driver.state.network_dir(spec.id), driver.namespace(spec.id),
                          driver.bridge_name(spec.id))
        pid = dnsmasq.pid()
        assert pid is not None and running(pid)
        pids.append(pid)
    driver.remove_all()
    assert not [ns for ns in (*map(driver.namespace, (s.id for s in specs)),
                              driver.external_namespace) if netns.exists(ns)]
    assert not any(running(pid) for pid in pids)
    assert not driver.state.root.exists()
    driver.remove_all()  # nothing left: fine
