"""Notification payloads as Nova's consumers (the DNS sink) read them, and the build
spec as agents read it off the bus."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from labs.compute.payloads import BuildSpec, ExpectedInstance, fixed_ips
from labs.network.instance_spec import InstancePort

#: A build spec as the conductor has always cast it to agents.
SPEC_MESSAGE: dict[str, Any] = {
    "id": "0b9f6f1e-7d7e-4c55-9d43-3d4f7e0a1c2b", "name": "web-1", "hostname": "web-1",
    "project_id": "p1", "project_name": "demo", "user_id": "u1",
    "vcpus": 1, "memory_mb": 512, "disk_gb": 1,
    "flavor": {"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1,
               "ephemeral": 0, "swap": 0, "extra_specs": {}},
    "image_id": "i1", "user_data": None, "key_data": "ssh-ed25519 AAAA",
    "metadata": {"role": "web"}, "availability_zone": "nova", "reservation_id": "r-1",
    "created_at": "2025-01-02T03:04:05.678901",
}


def test_the_build_spec_travels_as_before() -> None:
    spec = BuildSpec.from_message(SPEC_MESSAGE)
    assert spec.created_at == datetime(2025, 1, 2, 3, 4, 5, 678901)
    assert spec.network is None and spec.metadata == {"role": "web"}
    assert spec.to_message() == SPEC_MESSAGE
    assert list(spec.to_message()) == list(SPEC_MESSAGE)
    network = {"address": "10.0.0.5", "mac": "fa:16:3e:00:00:05", "label": "lan"}
    assert spec.with_network(network).to_message() == {**SPEC_MESSAGE, "network": network}
    assert BuildSpec.from_message({**SPEC_MESSAGE, "network": network}).network == network


def test_an_expected_instance_is_its_spec_and_its_states() -> None:
    message = {**SPEC_MESSAGE, "vm_state": "active", "task_state": None}
    expected = ExpectedInstance.from_message(message)
    assert expected.spec == BuildSpec.from_message(SPEC_MESSAGE)
    assert (expected.vm_state, expected.task_state) == ("active", None)
    assert expected.to_message() == message


def test_fixed_ips_carry_their_floating_addresses() -> None:
    addresses = {"lan": [
        {"version": 4, "addr": "10.68.0.5", "OS-EXT-IPS:type": "fixed",
         "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:05"},
        {"version": 4, "addr": "172.24.4.9", "OS-EXT-IPS:type": "floating",
         "OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:00:00:05"}]}
    assert fixed_ips(addresses) == [{
        "address": "10.68.0.5", "version": 4, "type": "fixed", "label": "lan", "meta": {},
        "vif_mac": "fa:16:3e:00:00:05",
        "floating_ips": [{"address": "172.24.4.9", "type": "floating", "version": 4,
                          "meta": {}}]}]
    assert fixed_ips({}) == []


#: The ``network`` part of a build spec as conductors cast it before subnets had rows.
PORT_MESSAGE: dict[str, Any] = {
    "network_id": "n1", "label": "lan", "cidr": "10.68.0.0/24", "gateway": "10.68.0.1",
    "external_ip": "172.24.4.254", "project_id": "p1", "domain": "labs.internal",
    "dns_domain": "demo.labs.internal", "mtu": 1500, "port_id": "i1",
    "address": "10.68.0.2", "mac": "fa:16:3e:00:00:02", "hostname": "web-1",
    "floating_ips": [], "security": {"rules": [], "members": {}}}


def test_the_network_part_carries_dhcp_and_name_servers_and_reads_older_ones() -> None:
    old = InstancePort.from_message(PORT_MESSAGE)
    assert old.network_spec().dhcp is True and old.network_spec().dns_servers == ()
    secured = {"rules": [], "members": {}, "enabled": True, "allowed_address_pairs": []}
    assert old.to_message() == {**PORT_MESSAGE, "enable_dhcp": True, "dns_nameservers": [],
                                "host_routes": [], "security": secured}
    new = {**PORT_MESSAGE, "mtu": 1400, "enable_dhcp": False, "dns_nameservers": ["9.9.9.9"],
           "host_routes": [{"destination": "10.9.0.0/16", "nexthop": "10.68.0.254"}],
           "security": {**secured, "enabled": False, "allowed_address_pairs": [
               {"ip_address": "10.68.0.100/32", "mac_address": "fa:16:3e:00:00:09"},
               {"ip_address": "10.68.0.128/25"}]}}
    port = InstancePort.from_message(new)
    assert port.to_message() == new
    spec = port.network_spec()
    assert (spec.dhcp, spec.dns_servers, spec.mtu) == (False, ("9.9.9.9",), 1400)
    assert spec.host_routes == (("10.9.0.0/16", "10.68.0.254"),)
    assert not port.security.enabled and len(port.security.allowed_pairs) == 2
    # an agent that knows none of the new keys reads the rest alike
    message = port.to_message()
    assert {k: v for k, v in message.items() if k in PORT_MESSAGE and k != "security"} == {
        **{k: v for k, v in PORT_MESSAGE.items() if k != "security"}, "mtu": 1400}
    assert {k: message["security"][k] for k in ("rules", "members")} == {
        "rules": [], "members": {}}
