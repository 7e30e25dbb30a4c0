"""Notification payloads as Nova's consumers (the DNS sink) read them."""

from __future__ import annotations

from labs.compute.payloads import fixed_ips


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
