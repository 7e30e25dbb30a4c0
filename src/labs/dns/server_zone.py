"""A zone as the embedded DNS server answers from it: an immutable snapshot.

The server swaps whole snapshots when a zone is published, so a query reads either the
old snapshot or the new one. A snapshot checks its own shape when it is built (one SOA,
at the apex; every name inside the zone; CNAME alone at its name), so the server never
answers from a zone that breaks the DNS rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.rrset

#: The record types Labs zones hold and the server answers.
SERVED_TYPES = frozenset(
    dns.rdatatype.RdataType.make(text)
    for text in ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "PTR", "NS", "SOA", "CAA")
)

Node = Mapping[dns.rdatatype.RdataType, dns.rrset.RRset]


class ZoneError(ValueError):
    """The zone's records break a DNS rule; the message names the record and the rule."""


@dataclass(frozen=True)
class ZoneSnapshot:
    """One zone's records, grouped by owner name then type; never changed once built."""

    origin: dns.name.Name
    serial: int
    nodes: Mapping[dns.name.Name, Node]
    #: Names with no records but with names below them (empty non-terminals).
    interior: frozenset[dns.name.Name]
    #: Names below the apex holding NS records: the zone delegates from there.
    cuts: frozenset[dns.name.Name]
    soa: dns.rrset.RRset
    #: The SOA as NXDOMAIN/NODATA answers carry it: TTL min(SOA TTL, SOA minimum).
    negative_soa: dns.rrset.RRset

    @classmethod
    def build(cls, origin: dns.name.Name, rrsets: Iterable[dns.rrset.RRset]) -> ZoneSnapshot:
        """Group and check `rrsets`; raises ZoneError naming the first broken rule."""
        nodes: dict[dns.name.Name, dict[dns.rdatatype.RdataType, dns.rrset.RRset]] = {}
        for rrset in rrsets:
            _check_rrset(origin, rrset)
            node = nodes.setdefault(rrset.name, {})
            if rrset.rdtype in node:
                raise ZoneError(f"{rrset.name} {rrset.rdtype.name} is given twice")
            node[rrset.rdtype] = rrset
        for name, node in nodes.items():
            if dns.rdatatype.CNAME in node and len(node) > 1:
                raise ZoneError(f"{name} has a CNAME and other records; a CNAME stands alone")
        soa = _apex_soa(origin, nodes)
        soa_rdata = soa[0]
        assert isinstance(soa_rdata, dns.rdtypes.ANY.SOA.SOA)
        negative_soa = dns.rrset.from_rdata(origin, min(soa.ttl, soa_rdata.minimum), soa_rdata)
        return cls(
            origin=origin,
            serial=soa_rdata.serial,
            nodes=MappingProxyType({name: MappingProxyType(node) for name, node in nodes.items()}),
            interior=frozenset(_interior(origin, nodes)),
            cuts=frozenset(
                name for name, node in nodes.items()
                if name != origin and dns.rdatatype.NS in node
            ),
            soa=soa,
            negative_soa=negative_soa,
        )

    def exists(self, name: dns.name.Name) -> bool:
        """Whether `name` is in the zone: it holds records or names below it do."""
        return name in self.nodes or name in self.interior

    def cut_above(self, name: dns.name.Name) -> dns.name.Name | None:
        """The delegation point at or above `name` (below the apex), if any."""
        if not self.cuts:
            return None
        while name != self.origin and name.is_subdomain(self.origin):
            if name in self.cuts:
                return name
            name = name.parent()
        return None

    def rrsets(self) -> list[dns.rrset.RRset]:
        """Every rrset of the zone, SOA first then in name order, as a zone transfer sends."""
        rest = [
            self.nodes[name][rdtype]
            for name in sorted(self.nodes)
            for rdtype in sorted(self.nodes[name])
            if rdtype != dns.rdatatype.SOA
        ]
        return [self.soa, *rest]


def _check_rrset(origin: dns.name.Name, rrset: dns.rrset.RRset) -> None:
    where = f"{rrset.name} {rrset.rdtype.name}"
    if not rrset.name.is_subdomain(origin):
        raise ZoneError(f"{where}: the name is outside the zone {origin}")
    if rrset.rdclass != dns.rdataclass.IN:
        raise ZoneError(f"{where}: only class IN is served")
    if rrset.rdtype not in SERVED_TYPES:
        raise ZoneError(f"{where}: type {rrset.rdtype.name} is not served")
    if len(rrset) == 0:
        raise ZoneError(f"{where}: the recordset has no records")
    if not 0 <= rrset.ttl <= 0x7FFFFFFF:
        raise ZoneError(f"{where}: TTL {rrset.ttl} is out of range")
    if rrset.rdtype == dns.rdatatype.CNAME and len(rrset) > 1:
        raise ZoneError(f"{where}: a name has at most one CNAME")
    if rrset.rdtype == dns.rdatatype.SOA and rrset.name != origin:
        raise ZoneError(f"{where}: an SOA belongs at the zone apex {origin} only")


def _apex_soa(
    origin: dns.name.Name, nodes: Mapping[dns.name.Name, Node]
) -> dns.rrset.RRset:
    soa = nodes.get(origin, {}).get(dns.rdatatype.SOA)
    if soa is None:
        raise ZoneError(f"the zone {origin} has no SOA at its apex")
    if len(soa) != 1:
        raise ZoneError(f"the zone {origin} has {len(soa)} SOA records; it needs exactly one")
    return soa


def _interior(origin: dns.name.Name, nodes: Mapping[dns.name.Name, Node]) -> set[dns.name.Name]:
    interior: set[dns.name.Name] = set()
    for name in nodes:
        while name != origin:
            name = name.parent()
            if name not in nodes:
                interior.add(name)
    return interior
