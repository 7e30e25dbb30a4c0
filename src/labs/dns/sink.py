"""The sink: every VM gets a DNS name (what Designate's Labs handlers did, without their
leaks).

On ``compute.instance.create.end`` the sink gives the instance, for each fixed IPv4
address, an A record ``<hostname>.<project>.<domain>`` in the cloud's forward zone and the
PTR record in the reverse zone that holds the address; on
``compute.instance.delete.start`` it removes exactly the records it made for that
instance (they are tagged with its id). A change that fails is retried (with growing
waits, logged at warning), and a reconciler, at start and every `reconcile_seconds`,
compares the records with the live instances (compute's conductor lists them, asked over
the bus): it adds what is missing and removes what belongs to instances that are gone.
So DNS converges on the set of live instances, also after the DNS service was down while
instances came and went.

Floating IPs are named too: on the network's ``floatingip.create.end`` /
``update.end`` with a port, the floating address gets a PTR record in the public range's
reverse zone pointing at the instance that holds the port's fixed address (the one whose
A record the sink made), tagged with that instance like its other records; on
disassociation or ``floatingip.delete.end`` the PTR goes. The conductor's list of live
instances carries their floating IPs, so the reconciler also adds missing and removes
stale floating IP PTRs.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass

from labs.common.bus import Bus
from labs.common.bus.messages import Notification
from labs.common.names import dns_label
from labs.common.periodic import Periodic
from labs.network.ports import port_id_of

log = logging.getLogger("labs.dns.sink")

GROUP = "dns-sink"
FLOATING_EVENTS = ("floatingip.create.end", "floatingip.update.end", "floatingip.delete.end")
#: (zone name, record name, type, data), names absolute with the trailing dot
Record = tuple[str, str, str, str]


@dataclass(frozen=True)
class LiveInstance:
    """What the sink needs of an instance to name it."""

    id: str
    hostname: str
    project_name: str
    addresses: tuple[str, ...]  # fixed IPv4 addresses
    floating: tuple[str, ...] = ()  # floating IPv4 addresses associated with it


class SinkTarget(ABC):
    """Where the sink keeps its records: the DNS service."""

    @abstractmethod
    def ensure_cloud_zone(self, name: str, email: str, ttl: int) -> object:
        """Make the zone (owned by the cloud) unless it exists."""

    @abstractmethod
    def set_instance_records(self, instance_id: str, records: list[Record]) -> None:
        """Make the instance's managed records exactly `records`."""

    @abstractmethod
    def remove_instance_records(self, instance_id: str) -> None:
        """Remove every managed record of the instance."""

    def forget_floating_ip(self, fip_id: str) -> None:  # noqa: B027 - optional
        """Remove the PTR record a project set for the floating IP (it was released)."""

    @abstractmethod
    def managed_instance_ids(self) -> set[str]:
        """The instances that have managed records."""

    @abstractmethod
    def managed_records(self, *, instance_id: str | None = None, type_: str | None = None,
                        name: str | None = None, data: str | None = None
                        ) -> list[tuple[str, Record]]:
        """The managed records that match (instance id, record) each."""


class InstanceSource(ABC):
    """The live instances, for the reconciler."""

    @abstractmethod
    def live_instances(self) -> list[LiveInstance]:
        """Every instance that is not deleted and has an address."""


@dataclass(frozen=True)
class Naming:
    """The cloud's forward zone (`domain`) and its reverse zones."""

    domain: str  # e.g. "labs.internal."
    reverse_zones: tuple[str, ...]  # e.g. ("68.10.in-addr.arpa.",)
    email: str = "hostmaster@labs.internal"
    ttl: int = 300
    floating: tuple[str, ...] = ()  # the floating IPs' ranges, e.g. ("172.24.4.0/24",)

    @classmethod
    def for_ranges(cls, domain: str, ranges: Iterable[str], email: str = "",
                   ttl: int = 300, floating: Iterable[str] = ()) -> Naming:
        """Reverse zones for IPv4 ranges (the fixed ones, then the `floating` ones), on
        octet boundaries (a /16 → one zone, a /20 → its /16's zone)."""
        floating = tuple(str(ipaddress.IPv4Network(c, strict=False)) for c in floating)
        zones = []
        for cidr in (*ranges, *floating):
            net = ipaddress.IPv4Network(cidr, strict=False)
            octets = max(1, net.prefixlen // 8)
            parts = str(net.network_address).split(".")[:octets]
            zones.append(".".join(reversed(parts)) + ".in-addr.arpa.")
        domain = domain.rstrip(".").lower() + "."
        return cls(domain, tuple(dict.fromkeys(zones)),
                   email or f"hostmaster@{domain.rstrip('.')}", ttl, floating)

    def is_floating_ptr(self, record: Record) -> bool:
        """Whether `record` is the PTR record of a floating IP."""
        address = address_of(record[1]) if record[2] == "PTR" else None
        return address is not None and any(
            address in ipaddress.IPv4Network(cidr) for cidr in self.floating)

    def fqdn(self, instance: LiveInstance) -> str | None:
        host, project = dns_label(instance.hostname), dns_label(instance.project_name)
        if not host or not project:
            return None
        return f"{host}.{project}.{self.domain}"

    def reverse_zone(self, address: str) -> str | None:
        name = ipaddress.IPv4Address(address).reverse_pointer + "."
        matches = [z for z in self.reverse_zones if name.endswith("." + z)]
        return max(matches, key=len) if matches else None

    def records(self, instance: LiveInstance) -> list[Record]:
        fqdn = self.fqdn(instance)
        if fqdn is None:
            return []
        out: list[Record] = []
        for address in instance.addresses:
            if ipaddress.ip_address(address).version != 4:
                continue
            out.append((self.domain, fqdn, "A", address))
            ptr = self.ptr(address, fqdn)
            if ptr is not None:
                out.append(ptr)
        return out + [ptr for ptr in (self.ptr(a, fqdn) for a in instance.floating)
                      if ptr is not None and self.is_floating_ptr(ptr)]

    def ptr(self, address: str, fqdn: str) -> Record | None:
        """The PTR record naming `address` `fqdn` (None outside the reverse zones)."""
        zone = self.reverse_zone(address)
        if zone is None:
            return None
        return (zone, ipaddress.IPv4Address(address).reverse_pointer + ".", "PTR", fqdn)


def address_of(ptr_name: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a full ``in-addr.arpa`` name stands for (None for another)."""
    labels = ptr_name.rstrip(".").lower().split(".")
    if len(labels) != 6 or labels[4:] != ["in-addr", "arpa"]:
        return None
    try:
        return ipaddress.IPv4Address(".".join(reversed(labels[:4])))
    except ValueError:
        return None


def instance_from_payload(payload: dict[str, object]) -> LiveInstance:
    fixed = payload.get("fixed_ips") or []
    addresses = tuple(str(ip["address"]) for ip in fixed  # type: ignore[attr-defined]
                      if isinstance(ip, dict) and ip.get("version", 4) == 4)
    return LiveInstance(id=str(payload["instance_id"]), hostname=str(payload["hostname"]),
                        project_name=str(payload.get("project_name") or ""),
                        addresses=addresses)


class DnsSink:
    """Subscribes to compute's notifications; see the module docstring."""

    def __init__(self, target: SinkTarget, instances: InstanceSource, naming: Naming,
                 reconcile_seconds: float = 60.0, retry_seconds: float = 1.0,
                 max_retries: int = 6) -> None:
        self.target = target
        self.instances = instances
        self.naming = naming
        self.reconcile_seconds = reconcile_seconds
        self.retry_seconds = retry_seconds
        self.max_retries = max_retries
        #: when the last reconciliation ended (Unix time) and why it failed (None: it
        #: did not); None before the first
        self.last_round: tuple[float, str | None] | None = None
        self._reconciler = Periodic("dns-sink", reconcile_seconds, self._reconcile_round,
                                    what="DNS reconciliation", run_at_start=True,
                                    traceback=False,  # the next round tries again,
                                    # soon at first: compute's conductor, asked over the
                                    # bus, may be starting too
                                    retry_seconds=retry_seconds)

    # -- life cycle -------------------------------------------------------------------
    def subscribe(self, bus: Bus) -> None:
        bus.subscribe("compute.instance.create.end", self.on_notification, GROUP)
        bus.subscribe("compute.instance.delete.start", self.on_notification, GROUP)
        for event in FLOATING_EVENTS:
            bus.subscribe(event, self.on_notification, GROUP)

    def start(self) -> None:
        """Make the zones, reconcile, then reconcile every `reconcile_seconds` (after a
        failure sooner: `retry_seconds`, doubling)."""
        self._reconciler.start()

    def stop(self) -> None:
        self._reconciler.stop(timeout=10)

    def _reconcile_round(self) -> None:
        try:
            self.ensure_zones()
            self.reconcile()
        except Exception as exc:
            self.last_round = (time.time(), str(exc)[:200] or type(exc).__name__)
            raise
        self.last_round = (time.time(), None)

    def running(self) -> bool:
        return self._reconciler.running()

    def ensure_zones(self) -> None:
        for zone in (self.naming.domain, *self.naming.reverse_zones):
            self.target.ensure_cloud_zone(zone, self.naming.email, self.naming.ttl)

    # -- events -----------------------------------------------------------------------
    def on_notification(self, note: Notification) -> None:
        payload = note.payload
        if note.event_type == "compute.instance.create.end":
            instance = instance_from_payload(payload)
            self._with_retries(f"name {instance.id}", lambda: self.name(instance))
        elif note.event_type in FLOATING_EVENTS:
            fip = payload.get("floatingip")
            if not isinstance(fip, dict) or not fip.get("floating_ip_address"):
                log.warning("DNS sink: %s without a floating IP", note.event_type)
                return
            address = str(fip["floating_ip_address"])
            if note.event_type == "floatingip.delete.end" and fip.get("id"):
                fip_id = str(fip["id"])  # released: a name its project gave it goes too
                self._with_retries(f"unname floating IP {fip_id}",
                                   lambda: self.target.forget_floating_ip(fip_id))
            port = fip.get("port_id") if note.event_type != "floatingip.delete.end" else None
            fixed = fip.get("fixed_ip_address") if port else None
            self._with_retries(f"name floating IP {address}", lambda: self.point_floating(
                address, str(fixed) if fixed else None, str(port) if port else None))
        elif note.event_type == "compute.instance.delete.start":
            instance_id = str(payload["instance_id"])
            self._with_retries(f"unname {instance_id}",
                               lambda: self.target.remove_instance_records(instance_id))

    def name(self, instance: LiveInstance) -> None:
        """Give the instance its records (keeping its floating IPs' PTR records: the
        notification of its creation does not carry them)."""
        kept = [record for _, record in self.target.managed_records(
            instance_id=instance.id, type_="PTR") if self.naming.is_floating_ptr(record)]
        self.target.set_instance_records(
            instance.id, list(dict.fromkeys([*self.naming.records(instance), *kept])))

    def point_floating(self, address: str, fixed: str | None,
                       port_id: str | None = None) -> None:
        """Make the floating IP `address`'s PTR record name the instance holding `fixed`
        behind port `port_id` (found by the A records the sink made at `fixed`: ranges
        overlap between networks, so the one whose port it is), or with None no
        instance."""
        placeholder = self.naming.ptr(address, self.naming.domain)
        if placeholder is None or not self.naming.is_floating_ptr(placeholder):
            return  # outside the floating range: not the sink's to name
        ptr_name = placeholder[1]
        owner, wanted = None, None
        if fixed is not None:
            for instance_id, (_, fqdn, _, _) in self.target.managed_records(
                    type_="A", data=fixed):
                if port_id_of(instance_id) == port_id:
                    owner, wanted = instance_id, self.naming.ptr(address, fqdn)
            if owner is None:
                log.info("DNS sink: no instance named at %s yet; the reconciler will name "
                         "floating IP %s", fixed, address)
        holders = {i for i, _ in self.target.managed_records(type_="PTR", name=ptr_name)}
        for instance_id in sorted(holders | ({owner} if owner else set())):
            have = [r for _, r in self.target.managed_records(instance_id=instance_id)]
            new = [r for r in have if not (r[2] == "PTR" and r[1] == ptr_name)]
            if instance_id == owner and wanted is not None:
                new.append(wanted)
            if set(new) != set(have):
                self.target.set_instance_records(instance_id, new)

    def _with_retries(self, what: str, work: object) -> None:
        assert callable(work)
        wait = self.retry_seconds
        for attempt in range(1, self.max_retries + 1):
            try:
                work()
                return
            except Exception as exc:
                log.warning("DNS sink: %s failed (attempt %d of %d): %s", what, attempt,
                            self.max_retries, exc)
                if self._reconciler.sleep(wait):
                    return
                wait *= 2
        log.warning("DNS sink: gave up on %s; the reconciler will repair it", what)
        self._reconciler.wake()

    # -- convergence ------------------------------------------------------------------
    def reconcile(self) -> tuple[int, int]:
        """Add missing records and remove those of gone instances: (named, unnamed)."""
        live = {i.id: i for i in self.instances.live_instances()}
        managed = self.target.managed_instance_ids()
        named = 0
        for instance in live.values():
            records = self.naming.records(instance)
            if records and instance.id not in managed:
                self.target.set_instance_records(instance.id, records)
                named += 1
        gone = managed - live.keys()
        for instance_id in gone:
            self.target.remove_instance_records(instance_id)
        floated = self.reconcile_floating(list(live.values()))
        if gone or named or floated:
            log.info("DNS reconciled: %d instances named, %d gone instances unnamed, the "
                     "floating IPs of %d renamed", named, len(gone), floated)
        return named, len(gone)

    def reconcile_floating(self, live: list[LiveInstance]) -> int:
        """Make each live instance's floating IP PTR records those of the floating IPs
        it has now (adding missing, removing stale ones); how many instances changed."""
        have: dict[str, set[Record]] = {}
        for instance_id, record in self.target.managed_records(type_="PTR"):
            if self.naming.is_floating_ptr(record):
                have.setdefault(instance_id, set()).add(record)
        changed = 0
        for instance in live:
            wanted = {r for r in self.naming.records(instance)
                      if self.naming.is_floating_ptr(r)}
            if wanted == have.get(instance.id, set()):
                continue
            kept = [r for _, r in self.target.managed_records(instance_id=instance.id)
                    if not self.naming.is_floating_ptr(r)]
            if kept:  # named (an instance without a name gets no PTR record)
                self.target.set_instance_records(instance.id, kept + sorted(wanted))
                changed += 1
        return changed
