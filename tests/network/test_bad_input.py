"""Values the driver refuses with InvalidRequest (a 400 for the API), changing nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from labs.common.errors import BadRequest
from labs.network.agent import netns
from labs.network.agent.drivers.bridge.driver import BridgeDriver
from labs.network.specs import (
    InvalidRequest,
    NetworkNotFound,
    NetworkSpec,
    PortConflict,
    PortNotFound,
    PortSpec,
    SecurityRule,
)
from tests.network.conftest import network, port

NET = NetworkSpec(id="n1", project_id="p1", cidr="10.68.1.0/24", gateway="10.68.1.1",
                  dns_domain="p1.labs.test")
PORT = PortSpec(id="p1", network_id="n1", mac="fa:16:3e:00:00:01", ip="10.68.1.5",
                hostname="web-1", instance_id="i1")


@pytest.mark.parametrize(("make", "message"), [
    (lambda: replace(NET, cidr="10.68.1.0/33"), "bad network CIDR"),
    (lambda: replace(NET, cidr="10.68.1.5/24"), "host bits set"),
    (lambda: replace(NET, cidr="fd00::/64"), "IPv4"),
    (lambda: replace(NET, cidr="10.68.1.0/30"), "too small"),
    (lambda: replace(NET, gateway="10.68.2.1"), "not a host address"),
    (lambda: replace(NET, gateway="10.68.1.0"), "not a host address"),
    (lambda: replace(NET, dns_domain="Bad_Domain"), "bad DNS domain"),
    (lambda: replace(NET, id="../etc"), "bad network id"),
    (lambda: replace(NET, mtu=100), "bad MTU"),
    (lambda: replace(PORT, mac="01:00:5e:00:00:01"), "bad MAC"),
    (lambda: replace(PORT, ip="10.68.1"), "not an IP address"),
    (lambda: replace(PORT, hostname="web.1"), "bad hostname"),
    (lambda: SecurityRule(protocol="tcp", port_min=80, port_max=22), "min is above max"),
    (lambda: SecurityRule(protocol="tcp", port_min=0), "outside 1-65535"),
    (lambda: SecurityRule(protocol="udp", port_min=53, port_max=70000), "outside 1-65535"),
    (lambda: SecurityRule(protocol="gre"), "unknown protocol"),  # type: ignore[arg-type]
    (lambda: SecurityRule(protocol="icmp", port_min=300), "outside 0-255"),
    (lambda: SecurityRule(port_min=22), "need a protocol"),
    (lambda: SecurityRule(direction="sideways"), "bad direction"),  # type: ignore[arg-type]
    (lambda: SecurityRule(remote_cidr="10.0.0.0/8", remote_group="default"), "not both"),
    (lambda: SecurityRule(remote_cidr="nowhere"), "bad remote CIDR"),
    # Values of the wrong type never reach nft or dnsmasq as text.
    (lambda: replace(NET, mtu="1500; drop"), "bad MTU"),
    (lambda: replace(NET, mtu=True), "bad MTU"),
    (lambda: SecurityRule(protocol="tcp", port_min="22 accept"), "outside 1-65535"),
    (lambda: SecurityRule(protocol="tcp", port_min=True), "outside 1-65535"),
    (lambda: SecurityRule(protocol="icmp", port_min="8 drop"), "outside 0-255"),
    (lambda: SecurityRule(protocol="icmp", port_min=8.5), "outside 0-255"),
    (lambda: SecurityRule(remote_group=["default"]), "bad remote group"),  # type: ignore[arg-type]
])
def test_bad_values_are_refused(make: Callable[[], Any], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message) as caught:
        make()
    assert isinstance(caught.value, BadRequest) and caught.value.code == 400


def test_the_driver_refuses_what_does_not_fit_the_network(driver: BridgeDriver) -> None:
    spec = network("bots", 1)
    driver.ensure_network(spec)
    with pytest.raises(InvalidRequest, match="belongs to project"):
        driver.ensure_network(replace(spec, project_id="other"))
    with pytest.raises(InvalidRequest, match="not a host address"):
        driver.ensure_network(network("tools", 2, "192.0.2.7"))
    with pytest.raises(InvalidRequest, match="not a free host address"):
        driver.plug(replace(port(spec, 5, "a"), ip="10.68.9.5"))
    with pytest.raises(InvalidRequest, match="not a free host address"):
        driver.plug(replace(port(spec, 5, "a"), ip=spec.gateway))
    with pytest.raises(NetworkNotFound):
        driver.plug(port(network("tools", 2), 5, "a"))
    a = port(spec, 5, "a")
    driver.plug(a)
    with pytest.raises(PortConflict):
        driver.plug(replace(port(spec, 6, "b"), ip=a.ip))
    with pytest.raises(PortConflict):
        driver.plug(replace(a, hostname="renamed"))
    with pytest.raises(InvalidRequest, match="no external IP"):
        driver.add_floating_ip(a.id, "172.24.4.10")
    with pytest.raises(PortNotFound):
        driver.set_security_rules("missing", [], {})
    with pytest.raises(InvalidRequest, match="bad group member"):
        driver.set_security_rules(a.id, [SecurityRule(remote_group="g")], {"g": ["x"]})
    assert [p.port_id for p in driver.list_ports()] == [a.id]
    assert not netns.exists(driver.namespace(network("tools", 2).id))
