"""The values a host's port security and a subnet's routes are made of: checked when
made (a bad one is an InvalidRequest, a 400), and read back from what older agents
and records wrote."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from labs.network.agent.drivers.bridge import nft
from labs.network.agent.drivers.bridge.dnsmasq import Dnsmasq
from labs.network.agent.drivers.bridge.state import PortRecord
from labs.network.instance_spec import AddressPair
from labs.network.specs import InvalidRequest, NetworkSpec, PortSpec

NET: dict[str, Any] = {"id": "n1", "project_id": "p1", "cidr": "10.68.1.0/24",
                       "gateway": "10.68.1.1", "dns_domain": "p1.labs.test"}


def test_host_routes_are_checked_and_kept_as_pairs() -> None:
    spec = NetworkSpec(**NET, host_routes=[["10.9.0.0/16", "10.68.1.254"],
                                           {"destination": "0.0.0.0/0",
                                            "nexthop": "10.68.1.2"}])
    assert spec.host_routes == (("10.9.0.0/16", "10.68.1.254"), ("0.0.0.0/0", "10.68.1.2"))
    assert NetworkSpec(**asdict(spec)) == spec  # as the driver's records keep it
    assert NetworkSpec(**NET).host_routes == ()
    for bad in ([("10.9.0.1/16", "10.68.1.254")],  # host bits set
                [("10.9.0.0/16", "10.69.0.1")],  # next hop off the subnet
                [("10.9.0.0/16", "10.68.1.255")],  # its broadcast address
                [("10.9.0.0/16", "10.68.1.0")],
                [("fd00::/8", "10.68.1.5")], [("10.9.0.0/16",)], ["10.9.0.0/16"],
                [(None, "10.68.1.5")], "10.9.0.0/16"):
        with pytest.raises(InvalidRequest):
            NetworkSpec(**NET, host_routes=bad)


def test_address_pairs_are_ipv4_networks_with_a_unicast_mac_or_none() -> None:
    assert AddressPair("10.68.1.50").ip == "10.68.1.50/32"
    assert AddressPair("10.68.1.77/25").ip == "10.68.1.0/25"
    assert AddressPair.of({"ip_address": "10.0.0.1", "mac_address": "fa:16:3e:00:00:01"}
                          ) == AddressPair("10.0.0.1/32", "fa:16:3e:00:00:01")
    for ip, mac in (("fe80::1", None), ("nope", None), ("10.0.0.1", "01:00:5e:00:00:01"),
                    ("10.0.0.1", "FA:16:3E:00:00:01"), ("10.0.0.1", "fa:16")):
        with pytest.raises(InvalidRequest):
            AddressPair(ip, mac)


def test_port_records_of_older_agents_read_as_secured_without_pairs() -> None:
    port = PortSpec(id="p1", network_id="n1", mac="fa:16:3e:00:01:05", ip="10.68.1.5",
                    hostname="a", instance_id="i1")
    record = PortRecord(port, "veth", "tapp1", "vifp1")
    old = {k: v for k, v in record.to_json().items()
           if k not in ("port_security", "allowed_pairs")}
    assert PortRecord.from_json(old) == record
    new = record.with_rules([], {}, False, [AddressPair("10.68.1.0/28")])
    assert PortRecord.from_json(new.to_json()) == new
    with pytest.raises(InvalidRequest):
        record.with_rules([], {"default": ["not-an-ip"]})


def test_the_rules_let_pairs_out_and_nothing_of_an_unsecured_port_is_filtered() -> None:
    spec = NetworkSpec(**NET)
    port = PortSpec(id="p1", network_id="n1", mac="fa:16:3e:00:01:05", ip="10.68.1.5",
                    hostname="a", instance_id="i1")
    paired = PortRecord(port, "veth", "tapp1").with_rules(
        [], {}, True, [AddressPair("10.68.1.64/26"), AddressPair("10.68.1.9",
                                                                  "fa:16:3e:00:00:09")])
    ruleset = nft.render(spec, nft.Wiring("brn1", None, None), [paired])
    assert "ether saddr fa:16:3e:00:00:09 ip saddr 10.68.1.9/32 accept" in ruleset
    assert "ether saddr fa:16:3e:00:01:05 ip saddr 10.68.1.64/26 accept" in ruleset
    assert "ip daddr 10.68.1.64/26 jump ingress-tapp1" in ruleset
    open_port = PortRecord(port, "veth", "tapp1").with_rules([], {}, False)
    ruleset = nft.render(spec, nft.Wiring("brn1", None, None), [open_port])
    assert "chain from-tapp1 {\n    accept\n  }" in ruleset
    assert "ingress-tapp1" not in ruleset and "flood-tapp1" not in ruleset


def test_dnsmasq_hands_out_host_routes_with_the_default_route(tmp_path: Any) -> None:
    dnsmasq = Dnsmasq(tmp_path, "ns", "brn1")
    routed = NetworkSpec(**NET, dns_servers=("9.9.9.9",),
                         host_routes=(("10.9.0.0/16", "10.68.1.254"),))
    config = dnsmasq.config(routed)
    classless = "10.9.0.0/16,10.68.1.254,0.0.0.0/0,10.68.1.1"
    assert f"dhcp-option=tag:labs,option:classless-static-route,{classless}" in config
    assert f"dhcp-option=tag:labs,249,{classless}" in config
    assert "dhcp-option=tag:labs,option:dns-server,9.9.9.9" in config
    assert "classless" not in dnsmasq.config(NetworkSpec(**NET))
    assert "dhcp-range" not in dnsmasq.config(NetworkSpec(**NET, dhcp=False))
