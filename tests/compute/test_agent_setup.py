"""Which network an agent gives its VMs: `[agent] network_driver`."""

from __future__ import annotations

import dataclasses

import pytest

from labs.common.config import ConfigError
from labs.compute import agent_setup
from labs.compute.config import AgentOptions


def options(**changes: object) -> AgentOptions:
    return dataclasses.replace(AgentOptions(), **changes)  # type: ignore[arg-type]


def test_auto_picks_bridge_when_the_host_can(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent_setup.os, "geteuid", lambda: 0)
    monkeypatch.setattr(agent_setup.shutil, "which", lambda tool: f"/usr/sbin/{tool}")
    assert agent_setup.choose_network_driver(options(driver="qemu")) == "bridge"


def test_auto_falls_back_to_user_mode_and_says_why(monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(agent_setup.os, "geteuid", lambda: 1000)
    caplog.set_level("INFO", logger="labs.compute.agent")
    assert agent_setup.choose_network_driver(options(driver="qemu")) == "user"
    assert "bridge networks need root" in caplog.text
    monkeypatch.setattr(agent_setup.os, "geteuid", lambda: 0)
    monkeypatch.setattr(agent_setup.shutil, "which",
                        lambda tool: None if tool == "dnsmasq" else f"/usr/sbin/{tool}")
    assert agent_setup.choose_network_driver(options(driver="qemu")) == "user"
    assert "dnsmasq" in caplog.text


def test_fake_driver_gets_no_network_unless_asked() -> None:
    assert agent_setup.choose_network_driver(options(driver="fake")) == "none"
    assert agent_setup.choose_network_driver(
        options(driver="fake", network_driver="user")) == "user"


def test_bad_or_impossible_choices_are_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="use auto, bridge, user or none"):
        agent_setup.choose_network_driver(options(network_driver="slirp"))
    monkeypatch.setattr(agent_setup.os, "geteuid", lambda: 1000)
    with pytest.raises(ConfigError, match="bridge networks need root"):
        agent_setup.choose_network_driver(options(network_driver="bridge"))
