"""An agent's NICs of its instances: the virt NICs of plugged ports, and the ports
attached to and detached from an instance while it exists (os-interface).

The instance's spec (the agent's `specs`) follows: its ``network`` part lists the ports
it has now, so a restart, a refresh or a delete handles every one of them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from labs.compute.payloads import BuildSpec
from labs.compute.virt.base import InstanceNotFound, Nic, VirtDriver, VirtError
from labs.network.agent.host import HostNetworking, PluggedPort
from labs.network.instance_spec import InstancePort, ports_message, ports_of
from labs.network.specs import NetworkError

log = logging.getLogger("labs.compute.agent.nics")


def nics_of(plugged: Sequence[PluggedPort]) -> tuple[Nic, ...]:
    """The virt NICs of an instance's plugged ports, in order (none without a
    network)."""
    return tuple(Nic(mac=p.mac, kind="user", port_id=p.port_id) if p.device is None
                 else Nic(mac=p.mac, kind="tap", tap=p.device, netns=p.netns,
                          port_id=p.port_id) for p in plugged)


def attach_port(network: HostNetworking, driver: VirtDriver,
                specs: MutableMapping[str, BuildSpec], instance_id: str,
                port: InstancePort) -> None:
    """Plug the port and give the instance's VM its NIC (hot-plugged when it runs); the
    port is unplugged again if the VM cannot take it (VirtError). Raises NetworkError
    when the host cannot plug it."""
    plugged = network.plug(port)
    assert plugged is not None
    try:
        (nic,) = nics_of([plugged])
        driver.attach_nic(instance_id, nic)
    except VirtError:
        network.unplug(port.port_id)
        raise
    spec = specs.get(instance_id)
    if spec is not None:
        ports = [p for p in ports_of(spec.network) if p.port_id != port.port_id]
        specs[instance_id] = spec.with_network(ports_message([*ports, port]))


def detach_port(network: HostNetworking, driver: VirtDriver,
                specs: MutableMapping[str, BuildSpec], instance_id: str,
                port_id: str) -> None:
    """Take the port's NIC from the instance's VM (if it still has one) and unplug the
    port."""
    with contextlib.suppress(InstanceNotFound):  # no VM: only the port is left to unplug
        driver.detach_nic(instance_id, port_id)
    network.unplug(port_id)
    spec = specs.get(instance_id)
    if spec is not None:
        ports = [p for p in ports_of(spec.network) if p.port_id != port_id]
        specs[instance_id] = spec.with_network(ports_message(ports))


def detach_gone(network: HostNetworking, driver: VirtDriver,
                specs: MutableMapping[str, BuildSpec], instance_id: str,
                before: Mapping[str, Any] | None, now: Mapping[str, Any] | None) -> None:
    """Take from the instance the ports its ``network`` part had (`before`) and has no
    more (`now`): deleted through the network API, their addresses may go to another
    server, so no NIC of its VM keeps sending from them (a guest that keeps its card
    keeps one that reaches nothing: the port is unplugged all the same)."""
    kept = {port.port_id for port in ports_of(now)}
    for port in ports_of(before):
        if port.port_id in kept:
            continue
        log.info("port %s of %s is gone: detaching it", port.port_id, instance_id)
        try:
            detach_port(network, driver, specs, instance_id, port.port_id)
        except VirtError as exc:
            log.warning("%s keeps the NIC of its gone port %s (%s): unplugging the port",
                        instance_id, port.port_id, exc)
            network.unplug(port.port_id)
            spec = specs.get(instance_id)
            if spec is not None:
                specs[instance_id] = spec.with_network(ports_message(
                    [p for p in ports_of(spec.network) if p.port_id != port.port_id]))


def replug(network: HostNetworking, spec_network: dict[str, Any] | None) -> str | None:
    """Plug again the ports of a stopped VM whose host network went meanwhile (`labs
    down`): the same taps in the same namespaces, as its record names them; why not."""
    plugged = network.plugged()
    missing = [port for port in ports_of(spec_network) if port.port_id not in plugged]
    try:
        network.plug_all(missing)
    except NetworkError as exc:
        return f"network: {exc}"
    return None
