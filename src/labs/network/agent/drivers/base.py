"""The network driver interface: what a compute agent asks of its host's networking.

Labs networks follow nova-network's "flat DHCP per project": a project's network is one
IPv4 subnet (its fixed IPs) on one layer-2 segment, with a gateway that also serves DHCP
(static leases only), DNS for the project's names and the metadata address. A VM has one
port per network; its security rules, its floating IPs and its lease hang off the port.
The caller decides every value (subnet, addresses, MACs, floating IPs): a driver only
makes the host match them.

Every driver follows the same rules:

- Failure: operations raise NetworkError or a subclass, never a tool's own exception.
  Bad values raise InvalidRequest (a 400 for the API) before anything is changed. A failed
  `plug` removes everything that plug made; other failures leave what was there before,
  or a state that `list_ports` reports truthfully, so that repeating the call fixes it.
- Idempotence: `ensure_network` and `plug` (with the same spec) may be repeated and
  repair what is missing; `delete_network` and `unplug` of something missing succeed.
- Restart: kernel objects and processes outlive the agent. A new driver object on the
  same state directory and name prefix sees the same networks and ports (`list_networks`,
  `list_ports`) and can change or remove them.
- Threads: one driver may be called from several threads; it serialises its own work.
- Drivers import nothing database-related and never each other.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from labs.network.instance_spec import AddressPair
from labs.network.specs import NetworkSpec, PortSpec, SecurityRule

NicKind = Literal["tap", "veth"]


@dataclass(frozen=True)
class Attachment:
    """How the virt driver connects a VM to its plugged port.

    A tap: run qemu inside `netns` (``ip netns exec <netns> qemu ...``) with
    ``-netdev tap,ifname=<device>,script=no,downscript=no`` and give the guest NIC `mac`
    and `mtu`. A veth (for containers and tests): `peer` is the guest end, still in
    `netns` and carrying `mac`; the caller moves it into the guest's namespace.
    """

    port_id: str
    network_id: str
    netns: str
    device: str
    mac: str
    mtu: int
    kind: NicKind = "tap"
    peer: str | None = None


class NetworkDriver(ABC):
    """Wires networks and VM ports on one host. See the module docstring for the rules."""

    name: ClassVar[str]

    @abstractmethod
    def ensure_network(self, spec: NetworkSpec) -> None:
        """Make the network exist as `spec` says: its segment with the gateway address,
        DHCP and DNS serving its ports' leases and names, its base filter and NAT rules,
        its uplink when it has an external IP. Repeatable; repairs what is missing and
        applies changed values (id and project stay)."""

    @abstractmethod
    def delete_network(self, network_id: str) -> None:
        """Remove the network and everything on it (ports included): no kernel object,
        process or state file is left. A missing network is fine."""

    @abstractmethod
    def list_networks(self) -> list[NetworkSpec]:
        """The networks this host has, also those an earlier agent process made."""

    @abstractmethod
    def plug(self, port: PortSpec, kind: NicKind = "tap") -> Attachment:
        """Create the port's device on its network, add its DHCP lease and DNS name, and
        filter it: inbound only established traffic until `set_security_rules`, outbound
        only from its own MAC and IP. The device is filtered before it joins the segment.
        NetworkNotFound if the network is missing; InvalidRequest if the IP is not a host
        of the subnet or is the gateway; PortConflict if the id, IP or MAC is taken by a
        different port. Plugging the same spec again repairs and returns the attachment."""

    @abstractmethod
    def unplug(self, port_id: str) -> None:
        """Remove the port's device, lease, name, rules and floating IPs. A missing port
        is fine."""

    @abstractmethod
    def list_ports(self) -> list[Attachment]:
        """Every plugged port, also those an earlier agent process plugged."""

    @abstractmethod
    def set_security_rules(self, port_id: str, rules: Sequence[SecurityRule],
                           group_members: Mapping[str, Sequence[str]], *,
                           port_security: bool = True,
                           allowed_pairs: Sequence[AddressPair] = ()) -> None:
        """Replace the port's allow rules at once (no moment with neither the old nor the
        new set). `group_members` maps each remote group the rules name to its members'
        IPs; a group missing from it has no members. Without `port_security` the port
        is not filtered at all; `allowed_pairs` may send besides its own MAC and IP.
        PortNotFound if missing."""

    @abstractmethod
    def add_floating_ip(self, port_id: str, floating_ip: str) -> None:
        """Make the port reachable at `floating_ip` from the public side (and let its
        outbound traffic leave from that address). Adding it again is fine.
        PortNotFound if missing; InvalidRequest if the network has no external IP or the
        address is not on the public side; PortConflict if another port holds it."""

    @abstractmethod
    def remove_floating_ip(self, port_id: str, floating_ip: str) -> None:
        """Undo `add_floating_ip`. A port without that floating IP is fine."""

    def bound_logs(self) -> None:  # noqa: B027 - an optional hook, empty on purpose
        """Cut what the networks' own processes log (dnsmasq's log) at its cap. Ensuring
        a network cuts its log too; the agent calls this every few minutes, so that a
        host whose networks stay as they are does not fill its disk either."""

    def close(self) -> None:  # noqa: B027 - an optional hook, empty on purpose
        """Release what the driver holds (not the networks: they keep working)."""
