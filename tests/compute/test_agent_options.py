"""The ``[agent]`` options the qemu driver is made with."""

from __future__ import annotations

from pathlib import Path

import pytest

from labs.common.config import Config, ConfigError
from labs.common.runner import Site
from labs.compute.config import AgentOptions
from labs.compute.virt.qemu import QemuDriver
from labs.wiring.agent import make_driver


def driver_of(tmp_path: Path, **agent: str) -> object:
    site = Site(tmp_path, Config({"agent": {"driver": "qemu", "ksm": "off", **agent}},
                                 environ={}))
    return make_driver(site, site.config.group(AgentOptions), "h")


def test_the_host_address_other_hosts_copy_from_is_configured(tmp_path: Path) -> None:
    """Without it every host offers its disks and memory on 127.0.0.1, which another
    host cannot reach: a move between two machines could never work."""
    assert isinstance(default := driver_of(tmp_path / "a"), QemuDriver)
    assert default.host_ip == "127.0.0.1"
    assert isinstance(chosen := driver_of(tmp_path / "b", host_ip="10.0.0.7"), QemuDriver)
    assert chosen.host_ip == "10.0.0.7"
    assert chosen.host_resources().host_ip == "10.0.0.7"  # what the conductor records


def test_a_host_ip_that_is_no_address_is_a_configuration_error(tmp_path: Path) -> None:
    for bad in ("host-b", "10.0.0.7; rm", ""):
        with pytest.raises(ConfigError, match=r"\[agent\] host_ip"):
            driver_of(tmp_path, host_ip=bad)
