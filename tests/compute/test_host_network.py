"""Which network an agent gives its VMs: `[agent] network_driver`."""

from __future__ import annotations

import dataclasses
import os
import shutil

import dns.message
import pytest

from labs.common.config import ConfigError
from labs.compute.config import AgentOptions
from labs.dns.config import DnsOptions
from labs.network.agent.dns_relay.wire import question
from labs.network.config import NetworkOptions
from labs.wiring import host_network


def options(**changes: object) -> AgentOptions:
    return dataclasses.replace(AgentOptions(), **changes)  # type: ignore[arg-type]


def test_auto_picks_bridge_when_the_host_can(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda tool: f"/usr/sbin/{tool}")
    assert host_network.choose_network_driver(options(driver="qemu")) == "bridge"


def test_auto_falls_back_to_user_mode_and_says_why(monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    caplog.set_level("INFO", logger="labs.compute.agent.manager")
    assert host_network.choose_network_driver(options(driver="qemu")) == "user"
    assert "bridge networks need root" in caplog.text
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which",
                        lambda tool: None if tool == "dnsmasq" else f"/usr/sbin/{tool}")
    assert host_network.choose_network_driver(options(driver="qemu")) == "user"
    assert "dnsmasq" in caplog.text


def test_fake_driver_gets_no_network_unless_asked() -> None:
    assert host_network.choose_network_driver(options(driver="fake")) == "none"
    assert host_network.choose_network_driver(
        options(driver="fake", network_driver="user")) == "user"


def test_bad_or_impossible_choices_are_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="use auto, bridge, user or none"):
        host_network.choose_network_driver(options(network_driver="slirp"))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(ConfigError, match="bridge networks need root"):
        host_network.choose_network_driver(options(network_driver="bridge"))


def test_the_dns_relay_follows_the_configured_server(caplog: pytest.LogCaptureFixture) -> None:
    """`[network] dns_server` comes before labs up's own server; none known: no relay,
    said in the log; a bad address is a configuration error naming the option."""
    caplog.set_level("INFO", logger="labs.compute.agent.manager")
    assert host_network.dns_relay(NetworkOptions()) is None
    assert "dns_server is not set" in caplog.text
    relay = host_network.dns_relay(NetworkOptions(dns_server="127.0.0.2:5300",
                                                 dns_forwarders=["192.0.2.53"]),
                                  dns_server="127.0.0.1:5353")
    assert relay is not None
    try:
        assert relay.upstream == ("127.0.0.2", 5300)
        assert relay.forwarders == (("192.0.2.53", 53),)
    finally:
        relay.close()
    own = host_network.dns_relay(NetworkOptions(dns_cloud_domains=["tools.example."]),
                                dns_server="127.0.0.1:5353",
                                dns=DnsOptions(project_zone_domains=["wmcloud.example"]))
    assert own is not None
    own.close()
    assert own.upstream == ("127.0.0.1", 5353)
    # only the cloud's own domains are asked of the cloud's server
    assert host_network.cloud_domains(NetworkOptions(dns_cloud_domains=["tools.example."]),
                                      DnsOptions(project_zone_domains=["wmcloud.example"])
                                      ) == ["labs.internal.", "68.10.in-addr.arpa.",
                                            "wmcloud.example", "tools.example."]
    for name, inside in (("web.WMcloud.example.", True), ("wmcloud.example.", True),
                         ("x.tools.example.", True), ("pypi.org.", False),
                         ("evilwmcloud.example.", False), ("example.", False)):
        asked = question(dns.message.make_query(name, "A").to_wire())
        assert asked is not None and own.in_cloud(*asked) is inside, name
    for bad in ({"dns_server": "dns.example.org"},
                {"dns_server": "127.0.0.1", "dns_forwarders": ["127.0.0.1:99999"]}):
        with pytest.raises(ConfigError, match=r"\[network\] dns_server or dns_forwarders"):
            host_network.dns_relay(NetworkOptions(**bad))  # type: ignore[arg-type]
