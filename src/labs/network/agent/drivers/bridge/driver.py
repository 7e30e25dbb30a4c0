"""The bridge driver: a Linux bridge per network, inside a network namespace Labs owns.

For network N (namespaces named from the driver's `prefix`):

- namespace ``<prefix>-net-<N>`` holds bridge ``br<N>`` with the gateway address, the
  ports' devices (taps ``tap<port>`` for qemu, veths for containers and tests), the
  network's dnsmasq (see ``dnsmasq`` beside this module) and its nftables rules (see
  ``nft``). Each network is its own namespace, so networks share no segment, route or
  filter: a VM reaches another project's VM only through its floating IP.
- namespace ``<prefix>-ext`` stands for the cloud's public side: bridge ``br-ext`` with
  the external gateway address, and one veth per network with an external IP (``ex<N>``
  there, ``up<N>`` in the network's namespace, carrying its external IP, its floating
  IPs as /32 addresses and its default route). The operator connects ``br-ext`` to the
  outside world (a physical interface or a route); the driver does not.

Interface names are derived from the ids (letters and digits only, cut to fit Linux's
15 characters), so a restarted agent finds the same objects; two ids that map to one name
on the same bridge are refused (PortConflict). Records under the state directory (see ``state``
beside this module) say which networks and ports exist; dnsmasq and the kernel objects
outlive the agent, and a new driver on the same directory and prefix takes them over.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import shutil
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from labs.network.agent import netns
from labs.network.agent.drivers.base import Attachment, NetworkDriver, NicKind
from labs.network.agent.drivers.bridge import nft
from labs.network.agent.drivers.bridge.dnsmasq import Dnsmasq
from labs.network.agent.drivers.bridge.state import PortRecord, StateStore
from labs.network.agent.drivers.bridge.uplink import Uplink, ensure_public_side, ensure_uplink
from labs.network.instance_spec import AddressPair
from labs.network.specs import (
    InvalidRequest,
    NetworkError,
    NetworkNotFound,
    NetworkSpec,
    PortConflict,
    PortNotFound,
    PortSpec,
    SecurityRule,
    check_cidr,
    check_ipv4,
)

log = logging.getLogger("labs.network.agent.drivers.bridge.driver")

_PREFIX = re.compile(r"[a-z][a-z0-9]{0,15}")


def short(ident: str, width: int) -> str:
    """The part of an id that goes into an interface name."""
    return re.sub(r"[^0-9A-Za-z]", "", ident)[:width]


class BridgeDriver(NetworkDriver):
    """Networks as bridges in namespaces; see the module docstring.

    `state_dir` keeps the records and dnsmasq's files (it must be readable by dnsmasq's
    unprivileged user); `prefix` starts every namespace name, so that drivers with
    different prefixes never touch each other's objects. `external_cidr` is the public
    side's subnet, `external_gateway` its gateway (default: its first address), held by
    ``br-ext``. With `metadata_port`, VMs' requests to 169.254.169.254:80 go to that port
    on their gateway address, where a metadata listener is expected.
    """

    name: ClassVar[str] = "bridge"

    def __init__(self, state_dir: Path, *, prefix: str = "labs",
                 external_cidr: str = "172.24.4.0/24", external_gateway: str | None = None,
                 metadata_port: int | None = None, upstream_dns: Sequence[str] = ()) -> None:
        if not _PREFIX.fullmatch(prefix):
            raise InvalidRequest(f"bad name prefix {prefix!r}: use 1-16 lower-case letters "
                                 "and digits, starting with a letter")
        self.state = StateStore(Path(state_dir))
        self.prefix = prefix
        self.external_net = check_cidr("external CIDR", external_cidr)
        gateway = external_gateway or str(next(self.external_net.hosts()))
        if check_ipv4("external gateway", gateway) not in self.external_net:
            raise InvalidRequest(f"external gateway {gateway} is not in {external_cidr}")
        self.external_gateway = gateway
        if metadata_port is not None and not 1 <= metadata_port <= 65535:
            raise InvalidRequest(f"bad metadata port {metadata_port}")
        self.metadata_port = metadata_port
        self.upstream_dns = tuple(upstream_dns)
        self._lock = threading.RLock()

    # Names of kernel objects.

    def namespace(self, network_id: str) -> str:
        return f"{self.prefix}-net-{network_id}"

    @property
    def external_namespace(self) -> str:
        return f"{self.prefix}-ext"

    @staticmethod
    def bridge_name(network_id: str) -> str:
        return "br" + short(network_id, 12)

    @staticmethod
    def uplink_name(network_id: str) -> str:
        return "up" + short(network_id, 12)

    @staticmethod
    def external_port_name(network_id: str) -> str:
        return "ex" + short(network_id, 12)

    @staticmethod
    def device_name(port_id: str) -> str:
        return "tap" + short(port_id, 11)

    @staticmethod
    def peer_name(port_id: str) -> str:
        return "vif" + short(port_id, 11)

    # Networks.

    def ensure_network(self, spec: NetworkSpec) -> None:
        with self._lock:
            netns.require_tools("ip", "nft", "dnsmasq")
            old = self.state.load_network(spec.id)
            if old is not None and old.project_id != spec.project_id:
                raise InvalidRequest(
                    f"network {spec.id} belongs to project {old.project_id}, "
                    f"not {spec.project_id}")
            self._check_external_ip(spec)
            self._check_readable_by_dnsmasq()
            self.state.save_network(spec)
            namespace, bridge = self.namespace(spec.id), self.bridge_name(spec.id)
            netns.ensure(namespace, router=True)
            if not netns.link_exists(namespace, bridge):
                netns.ip(namespace, "link", "add", bridge, "type", "bridge")
                log.info("created bridge %s in %s", bridge, namespace)
            netns.ip(namespace, "link", "set", bridge, "mtu", str(spec.mtu), "up")
            prefix = ipaddress.IPv4Network(spec.cidr).prefixlen
            wanted = f"{spec.gateway}/{prefix}"
            for stale in netns.addresses(namespace, bridge) - {wanted}:
                netns.ip(namespace, "addr", "del", stale, "dev", bridge)
            netns.set_address(namespace, bridge, wanted)
            self._ensure_uplink(spec)
            self._apply(spec)
            log.info("network %s (project %s, %s) is ready in %s",
                     spec.id, spec.project_id, spec.cidr, namespace)

    def delete_network(self, network_id: str) -> None:
        with self._lock:
            namespace = self.namespace(network_id)
            Dnsmasq(self.state.network_dir(network_id), namespace,
                    self.bridge_name(network_id)).stop()
            netns.delete(namespace)  # its interfaces go with it, uplink peers included
            self.state.drop_network(network_id)
            if not any(s.external_ip for s in self.list_networks()) \
                    and not netns.names(f"{self.prefix}-rtr-"):  # routers' gateways
                netns.delete(self.external_namespace)
            log.info("deleted network %s", network_id)

    def remove_all(self) -> None:
        """Unplug every port and delete every network this driver's records name, then
        the records themselves (an operator taking a host out of service, a test cleaning
        up after itself)."""
        with self._lock:
            for attachment in self.list_ports():
                self.unplug(attachment.port_id)
            for spec in self.list_networks():
                self.delete_network(spec.id)
            shutil.rmtree(self.state.root, ignore_errors=True)

    def bound_logs(self) -> None:
        with self._lock:
            for network_id in self.state.network_ids():
                Dnsmasq(self.state.network_dir(network_id), self.namespace(network_id),
                        self.bridge_name(network_id)).bound_log()

    def list_networks(self) -> list[NetworkSpec]:
        with self._lock:
            specs = (self.state.load_network(i) for i in self.state.network_ids())
            return [s for s in specs if s is not None]

    def _network(self, network_id: str) -> NetworkSpec:
        spec = self.state.load_network(network_id)
        if spec is None:
            raise NetworkNotFound(f"network {network_id} does not exist on this host")
        return spec

    def _check_external_ip(self, spec: NetworkSpec) -> None:
        if spec.external_ip is None:
            return
        address = ipaddress.IPv4Address(spec.external_ip)
        if address not in self.external_net or spec.external_ip == self.external_gateway \
                or address in (self.external_net.network_address,
                               self.external_net.broadcast_address):
            raise InvalidRequest(f"external IP {spec.external_ip} is not a host address of "
                                 f"{self.external_net} other than its gateway")
        for other in self.list_networks():
            if other.id != spec.id and other.external_ip == spec.external_ip \
                    and not self.state.ports(other.id):
                self.delete_network(other.id)  # deleted since its last port left
            elif other.id != spec.id and other.external_ip == spec.external_ip:
                raise InvalidRequest(
                    f"external IP {spec.external_ip} is network {other.id}'s")
            if other.id != spec.id and self.bridge_name(other.id) == self.bridge_name(spec.id):
                raise InvalidRequest(f"network ids {other.id} and {spec.id} map to the same "
                                     f"interface names")

    def _check_readable_by_dnsmasq(self) -> None:
        root = self.state.root.resolve()
        root.mkdir(parents=True, exist_ok=True)
        for directory in (root, *root.parents):
            if not directory.stat().st_mode & 0o001:
                raise NetworkError(
                    f"dnsmasq cannot reach the state directory {root}: {directory} is not "
                    "searchable by other users (chmod o+x)")

    def _ensure_uplink(self, spec: NetworkSpec) -> None:
        namespace, uplink = self.namespace(spec.id), self.uplink_name(spec.id)
        if spec.external_ip is None:
            netns.delete_link(namespace, uplink)
            return
        prefixlen = self.external_net.prefixlen
        ensure_public_side(self.external_namespace, f"{self.external_gateway}/{prefixlen}")
        wanted = {f"{spec.external_ip}/{prefixlen}"}
        wanted |= {f"{fip}/32" for r in self.state.ports(spec.id) for fip in r.floating_ips}
        ensure_uplink(Uplink(namespace, uplink, self.external_namespace,
                             self.external_port_name(spec.id)),
                      wanted, self.external_gateway)

    def _apply(self, spec: NetworkSpec, ports: Sequence[PortRecord] | None = None) -> None:
        """Bring the network's rules and dnsmasq in line with `ports` (default: the
        records)."""
        if ports is None:
            ports = self.state.ports(spec.id)
        namespace = self.namespace(spec.id)
        metadata = (spec.gateway, self.metadata_port) if self.metadata_port else None
        uplink = self.uplink_name(spec.id) if spec.external_ip else None
        wiring = nft.Wiring(self.bridge_name(spec.id), uplink, metadata)
        nft.apply(namespace, nft.render(spec, wiring, ports))
        Dnsmasq(self.state.network_dir(spec.id), namespace, self.bridge_name(spec.id)
                ).ensure(spec, [r.port for r in ports], self.upstream_dns)

    # Ports.

    def plug(self, port: PortSpec, kind: NicKind = "tap") -> Attachment:
        if kind not in ("tap", "veth"):
            raise InvalidRequest(f"bad device kind {kind!r}: use tap or veth")
        with self._lock:
            spec = self._network(port.network_id)
            self._check_port(spec, port, kind)
            record = PortRecord(port, kind, self.device_name(port.id),
                                self.peer_name(port.id) if kind == "veth" else None)
            existing = self.state.find_port(port.id)
            if existing is not None:
                record = existing  # a repeat: keep its rules and floating IPs
            namespace = self.namespace(spec.id)
            self.state.save_port(record)
            try:
                self._make_device(spec, record)
                self._apply(spec)  # the filters exist before the device joins the bridge
                netns.ip(namespace, "link", "set", record.device, "master",
                         self.bridge_name(spec.id), "up")
            except NetworkError:
                if existing is None:
                    log.warning("plugging port %s failed; removing what it made", port.id)
                    netns.delete_link(namespace, record.device)
                    self.state.drop_port(record)
                    self._apply(spec)
                raise
            log.info("plugged port %s (%s, %s) of instance %s as %s in %s", port.id,
                     port.ip, port.mac, port.instance_id, record.device, namespace)
            return self._attachment(spec, record)

    def _check_port(self, spec: NetworkSpec, port: PortSpec, kind: NicKind) -> None:
        net = ipaddress.IPv4Network(spec.cidr)
        address = ipaddress.IPv4Address(port.ip)
        if address not in net or port.ip == spec.gateway \
                or address in (net.network_address, net.broadcast_address):
            raise InvalidRequest(f"fixed IP {port.ip} is not a free host address of "
                                 f"{spec.cidr} (the gateway is {spec.gateway})")
        existing = self.state.find_port(port.id)
        if existing is not None and (existing.port != port or existing.kind != kind):
            raise PortConflict(f"port {port.id} is plugged with other values")
        for other in self.state.ports(spec.id):
            if other.port.id == port.id:
                continue
            if other.port.ip == port.ip or other.port.mac == port.mac \
                    or other.device == self.device_name(port.id):
                raise PortConflict(f"port {port.id} clashes with port {other.port.id} "
                                   f"(IP, MAC or device name {other.device})")

    def _make_device(self, spec: NetworkSpec, record: PortRecord) -> None:
        namespace, device = self.namespace(spec.id), record.device
        if netns.link_exists(namespace, device):
            return
        if record.kind == "tap":
            netns.ip(namespace, "tuntap", "add", "dev", device, "mode", "tap")
        else:
            assert record.peer is not None
            netns.ip(namespace, "link", "add", device, "type", "veth", "peer", "name",
                     record.peer)
            netns.ip(namespace, "link", "set", record.peer, "address", record.port.mac,
                     "mtu", str(spec.mtu))
        netns.ip(namespace, "link", "set", device, "mtu", str(spec.mtu))

    def _attachment(self, spec: NetworkSpec, record: PortRecord) -> Attachment:
        return Attachment(port_id=record.port.id, network_id=spec.id,
                          netns=self.namespace(spec.id), device=record.device,
                          mac=record.port.mac, mtu=spec.mtu, kind=record.kind,
                          peer=record.peer)

    def unplug(self, port_id: str) -> None:
        with self._lock:
            record = self.state.find_port(port_id)
            if record is None:
                return
            spec = self._network(record.port.network_id)
            namespace = self.namespace(spec.id)
            netns.delete_link(namespace, record.device)
            if spec.external_ip is not None:
                for fip in record.floating_ips:
                    netns.ip(namespace, "addr", "del", f"{fip}/32", "dev",
                             self.uplink_name(spec.id), check=False)
            self._apply(spec, [r for r in self.state.ports(spec.id) if r.port.id != port_id])
            self.state.drop_port(record)
            log.info("unplugged port %s from network %s", port_id, spec.id)

    def list_ports(self) -> list[Attachment]:
        with self._lock:
            return [self._attachment(spec, record) for spec in self.list_networks()
                    for record in self.state.ports(spec.id)]

    def _port(self, port_id: str) -> tuple[NetworkSpec, PortRecord]:
        record = self.state.find_port(port_id)
        if record is None:
            raise PortNotFound(f"port {port_id} is not plugged on this host")
        return self._network(record.port.network_id), record

    def set_security_rules(self, port_id: str, rules: Sequence[SecurityRule],
                           group_members: Mapping[str, Sequence[str]], *,
                           port_security: bool = True,
                           allowed_pairs: Sequence[AddressPair] = ()) -> None:
        with self._lock:  # a bad member address: InvalidRequest, before anything changes
            spec, record = self._port(port_id)
            updated = record.with_rules(rules, group_members, port_security, allowed_pairs)
            self._apply(spec, [updated if r.port.id == port_id else r
                               for r in self.state.ports(spec.id)])
            self.state.save_port(updated)
            log.info("port %s has %d security rules now", port_id, len(rules))

    # Floating IPs.

    def add_floating_ip(self, port_id: str, floating_ip: str) -> None:
        address = check_ipv4("floating IP", floating_ip)
        with self._lock:
            spec, record = self._port(port_id)
            if spec.external_ip is None:
                raise InvalidRequest(f"network {spec.id} has no external IP, so no floating "
                                     "IPs")
            if address not in self.external_net or floating_ip in (
                    self.external_gateway, str(self.external_net.network_address),
                    str(self.external_net.broadcast_address)):
                raise InvalidRequest(f"floating IP {floating_ip} is not a host address of "
                                     f"{self.external_net}")
            if floating_ip in record.floating_ips:
                return
            for other in self.list_networks():
                if other.external_ip == floating_ip:
                    raise PortConflict(f"{floating_ip} is network {other.id}'s external IP")
                for r in self.state.ports(other.id):
                    if floating_ip in r.floating_ips:
                        raise PortConflict(f"{floating_ip} is port {r.port.id}'s")
            updated = replace(record, floating_ips=(*record.floating_ips, floating_ip))
            self.state.save_port(updated)
            netns.set_address(self.namespace(spec.id), self.uplink_name(spec.id),
                              f"{floating_ip}/32")
            self._apply(spec)
            log.info("floating IP %s now reaches port %s (%s)", floating_ip, port_id,
                     record.port.ip)

    def remove_floating_ip(self, port_id: str, floating_ip: str) -> None:
        with self._lock:
            spec, record = self._port(port_id)
            if floating_ip not in record.floating_ips:
                return
            updated = replace(record, floating_ips=tuple(
                f for f in record.floating_ips if f != floating_ip))
            self._apply(spec, [updated if r.port.id == port_id else r
                               for r in self.state.ports(spec.id)])
            netns.ip(self.namespace(spec.id), "addr", "del", f"{floating_ip}/32", "dev",
                     self.uplink_name(spec.id), check=False)
            self.state.save_port(updated)
            log.info("floating IP %s no longer reaches port %s", floating_ip, port_id)
