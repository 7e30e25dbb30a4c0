"""Several ports in a build spec's ``network`` part, and the messages of the previous
release: an old agent reads the first port of a new message, a new agent builds from an
old single-port message; the agent plugs each port, the VM gets one NIC each in order,
and a delete, a failed spawn, a detach unplug each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from labs.compute.agent.manager import Agent
from labs.compute.payloads import BuildSpec
from labs.compute.virt.base import Nic, VirtError
from labs.compute.virt.fake import FAIL_SPAWN_KEY, FakeDriver
from labs.network.agent.drivers.base import Attachment, NetworkDriver, NicKind
from labs.network.agent.host import HostNetworking
from labs.network.instance_spec import (
    AddressPair,
    InstancePort,
    ports_addresses,
    ports_message,
    ports_of,
)
from labs.network.specs import NetworkSpec, PortSpec, SecurityRule
from tests.compute.test_payloads import PORT_MESSAGE, SPEC_MESSAGE
from tests.compute.test_virt_contract import _spec

SECOND = {**PORT_MESSAGE, "network_id": "n2", "label": "backend", "cidr": "10.70.0.0/24",
          "gateway": "10.70.0.1", "external_ip": None, "port_id": "p2",
          "address": "10.70.0.5", "mac": "fa:16:3e:00:00:07"}


class RecordingDriver(NetworkDriver):
    """A network driver that keeps what is plugged in memory."""

    name = "recording"

    def __init__(self) -> None:
        self.networks: dict[str, NetworkSpec] = {}
        self.ports: dict[str, PortSpec] = {}

    def ensure_network(self, spec: NetworkSpec) -> None:
        self.networks[spec.id] = spec

    def delete_network(self, network_id: str) -> None:
        self.networks.pop(network_id, None)

    def list_networks(self) -> list[NetworkSpec]:
        return list(self.networks.values())

    def plug(self, port: PortSpec, kind: NicKind = "tap") -> Attachment:
        self.ports[port.id] = port
        return self._attachment(port)

    def _attachment(self, port: PortSpec) -> Attachment:
        return Attachment(port_id=port.id, network_id=port.network_id,
                          netns=f"ns-{port.network_id}", device=f"tap-{port.id}",
                          mac=port.mac, mtu=1500)

    def unplug(self, port_id: str) -> None:
        self.ports.pop(port_id, None)

    def list_ports(self) -> list[Attachment]:
        return [self._attachment(port) for port in self.ports.values()]

    def set_security_rules(self, port_id: str, rules: Sequence[SecurityRule],
                           group_members: Mapping[str, Sequence[str]], *,
                           port_security: bool = True,
                           allowed_pairs: Sequence[AddressPair] = ()) -> None:
        pass

    def add_floating_ip(self, port_id: str, floating_ip: str) -> None:
        pass

    def remove_floating_ip(self, port_id: str, floating_ip: str) -> None:
        pass


class QuietBus:
    """Takes every cast and notification, answers no call."""

    def cast(self, *args: Any, **kwargs: Any) -> None:
        pass

    def notify(self, *args: Any, **kwargs: Any) -> None:
        pass


def test_an_old_reader_reads_the_first_port_and_a_new_one_reads_old_messages() -> None:
    first, second = InstancePort.from_message(PORT_MESSAGE), InstancePort.from_message(SECOND)
    message = ports_message([first, second])
    assert message is not None
    # the previous release's agent: the message is one port, the first
    assert InstancePort.from_message(message) == first
    assert {k: v for k, v in message.items() if k != "ports"} == first.to_message()
    assert ports_of(message) == [first, second]
    # the previous release's conductor: one port, no list
    assert ports_of(PORT_MESSAGE) == [first]
    assert ports_of(None) == [] and ports_message([]) is None
    spec = BuildSpec.from_message({**SPEC_MESSAGE, "network": message})
    assert BuildSpec.from_message(spec.to_message()) == spec
    assert list(ports_addresses([first, second])) == ["lan", "backend"]


def agent(tmp_path: Path) -> tuple[Agent, FakeDriver, RecordingDriver]:
    driver, network = FakeDriver(tmp_path, "h1"), RecordingDriver()
    built = Agent("h1", "nova", driver, QuietBus(),  # type: ignore[arg-type]
                  network=HostNetworking(network))
    return built, driver, network


@pytest.mark.parametrize("kind", ["old", "new"])
def test_the_agent_plugs_each_port_and_the_vm_gets_a_nic_each(tmp_path: Path,
                                                             kind: str) -> None:
    built, driver, network = agent(tmp_path)
    ports = [InstancePort.from_message(PORT_MESSAGE), InstancePort.from_message(SECOND)]
    wanted = ports[:1] if kind == "old" else ports
    message = PORT_MESSAGE if kind == "old" else ports_message(ports)
    spec = BuildSpec.from_message({**SPEC_MESSAGE, "network": message})
    built._specs[spec.id] = spec
    built._build(spec)
    assert driver.nics(spec.id) == [p.port_id for p in wanted]
    assert sorted(network.ports) == sorted(p.port_id for p in wanted)
    assert sorted(network.networks) == sorted(p.network_id for p in wanted)
    built._delete(spec.id)
    assert network.ports == {}


def test_a_failed_spawn_unplugs_every_port(tmp_path: Path) -> None:
    built, driver, network = agent(tmp_path)
    ports = [InstancePort.from_message(PORT_MESSAGE), InstancePort.from_message(SECOND)]
    spec = BuildSpec.from_message({**SPEC_MESSAGE, "network": ports_message(ports),
                                   "metadata": {FAIL_SPAWN_KEY: "h1"}})
    built._build(spec)
    assert network.ports == {} and driver.list_instances() == []


def test_attach_and_detach_plug_and_unplug_and_follow_the_spec(tmp_path: Path) -> None:
    built, driver, network = agent(tmp_path)
    spec = BuildSpec.from_message({**SPEC_MESSAGE, "network": PORT_MESSAGE})
    built._specs[spec.id] = spec
    built._build(spec)
    built.attach_interface(spec.id, SECOND)
    assert driver.nics(spec.id) == ["i1", "p2"] and sorted(network.ports) == ["i1", "p2"]
    assert [p.port_id for p in ports_of(built._specs[spec.id].network)] == ["i1", "p2"]
    built.attach_interface(spec.id, SECOND)  # again: nothing changes
    assert driver.nics(spec.id) == ["i1", "p2"]
    built.detach_interface(spec.id, "p2")
    assert driver.nics(spec.id) == ["i1"] and list(network.ports) == ["i1"]
    assert [p.port_id for p in ports_of(built._specs[spec.id].network)] == ["i1"]


def test_the_fake_driver_keeps_nics_across_a_restart(tmp_path: Path) -> None:
    driver = FakeDriver(tmp_path, "h1")
    spec = _spec(nics=(Nic(kind="user", port_id="a"),))
    driver.spawn(spec)
    driver.attach_nic(spec.id, Nic(kind="user", port_id="b"))
    assert FakeDriver(tmp_path, "h1").nics(spec.id) == ["a", "b"]


def test_a_port_deleted_through_the_network_api_leaves_the_vm_and_the_host(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its address goes back to its network (another server may get it): the VM must
    not keep a NIC that may still send from it."""
    built, driver, network = agent(tmp_path)
    ports = [InstancePort.from_message(PORT_MESSAGE), InstancePort.from_message(SECOND)]
    spec = BuildSpec.from_message({**SPEC_MESSAGE, "network": ports_message(ports)})
    built._specs[spec.id] = spec
    built._build(spec)
    monkeypatch.setattr(built, "_submit", lambda _key, work, *args: work(*args))
    specs: dict[str, Any] = {spec.id: ports_message(ports[:1])}
    monkeypatch.setattr(built, "conductor", type("C", (), {
        "network_specs": staticmethod(lambda ids: {i: specs[i] for i in ids if i in specs})}))
    built._refresh_network([spec.id])  # the second port was deleted
    assert driver.nics(spec.id) == ["i1"] and list(network.ports) == ["i1"]
    assert [p.port_id for p in ports_of(built._specs[spec.id].network)] == ["i1"]
    specs.clear()
    built._refresh_network([spec.id])  # and then the last one
    assert driver.nics(spec.id) == [] and network.ports == {}
    assert built._specs[spec.id].network is None


def test_a_gone_port_leaves_the_host_even_when_the_guest_keeps_its_card(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A guest may refuse to let a NIC go: the host side goes anyway, so the card it
    keeps reaches nothing (its address may be another server's by now)."""
    built, driver, network = agent(tmp_path)
    ports = [InstancePort.from_message(PORT_MESSAGE), InstancePort.from_message(SECOND)]
    spec = BuildSpec.from_message({**SPEC_MESSAGE, "network": ports_message(ports)})
    built._specs[spec.id] = spec
    built._build(spec)

    def refuse(instance_id: str, port_id: str) -> None:
        raise VirtError(f"the guest did not release NIC {port_id}")

    monkeypatch.setattr(driver, "detach_nic", refuse)
    built._apply_network(spec.id, ports_message(ports[:1]), built._network_of(spec.id))
    assert list(network.ports) == ["i1"]
    assert [p.port_id for p in ports_of(built._specs[spec.id].network)] == ["i1"]
