"""The embedded DNS backend: Labs' own authoritative server, in the Labs process.

The all-in-one cloud uses it: zones live in memory only (the DNS service pushes every
zone again when it starts), served by `labs.dns.server.DnsServer` over UDP and TCP.

The backend starts its server when it is made, so a constructed backend answers queries
at once on `address`:`port` (port 0 picks a free port; `port` tells which); `close()`
stops it. `publish` checks the whole zone before serving any of it and raises
BackendError naming the first problem, leaving what was served unchanged:

- the zone name and every owner name absolute and lower case, with the trailing dot;
- every owner name inside the zone; every type one Labs serves (A, AAAA, CNAME, MX,
  TXT, SRV, PTR, NS, SOA, CAA); every record parsing as its type; each name and type once;
- exactly one SOA, at the apex, whose serial is the zone's serial;
- a CNAME alone at its name.
"""

from __future__ import annotations

import logging

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from labs.dns.backends.base import BackendError, DnsBackend, RecordSet, Zone
from labs.dns.server import DnsServer
from labs.dns.server_limits import ServerLimits
from labs.dns.server_zone import ZoneError, ZoneSnapshot

log = logging.getLogger("labs.dns.backends.embedded")
#: Seconds the status probe waits for the server's answer.
PROBE_TIMEOUT = 2.0


class EmbeddedBackend(DnsBackend):
    """Serves published zones from memory with the embedded DNS server."""

    name = "embedded"

    def __init__(self, address: str = "127.0.0.1", port: int = 0,
                 limits: ServerLimits | None = None) -> None:
        self._server = DnsServer(address, port, limits=limits)
        try:
            self._server.start()
        except OSError as exc:
            raise BackendError(f"cannot serve DNS on {address} port {port}: {exc}") from exc

    @property
    def address(self) -> str:
        return self._server.address

    @property
    def port(self) -> int:
        """The port queries go to, over UDP and TCP."""
        return self._server.port

    def publish(self, zone: Zone) -> None:
        snapshot = build_snapshot(zone)
        self._server.publish(snapshot)  # swapped in whole: queries see old or new
        log.debug("zone %s published at serial %d", zone.name, zone.serial)

    def remove(self, zone_name: str) -> None:
        self._server.remove(_origin(zone_name))
        log.debug("zone %s removed", zone_name)

    def zone_names(self) -> list[str]:
        return sorted(origin.to_text() for origin in self._server.zones)

    def serial(self, zone_name: str) -> int | None:
        snapshot = self._server.zones.get(_origin(zone_name))
        return None if snapshot is None else snapshot.serial

    def probe(self) -> dict[str, int]:
        """Ask the server a real query (over UDP, for the SOA of a zone it serves);
        raises unless it answers."""
        names = self.zone_names()
        query = dns.message.make_query(names[0] if names else ".", dns.rdatatype.SOA)
        host = "127.0.0.1" if self.address in ("0.0.0.0", "") else self.address
        host = "::1" if host == "::" else host
        answer = dns.query.udp(query, host, port=self.port, timeout=PROBE_TIMEOUT)
        return {"zones": len(names), "rcode": answer.rcode()}

    def close(self) -> None:
        self._server.stop()


def build_snapshot(zone: Zone) -> ZoneSnapshot:
    """The server's form of `zone`, checked; BackendError says what is wrong with it."""
    origin = _origin(zone.name)
    rrsets = [_parse(recordset, origin) for recordset in zone.recordsets]
    try:
        snapshot = ZoneSnapshot.build(origin, rrsets)
    except ZoneError as exc:
        raise BackendError(f"zone {zone.name}: {exc}") from exc
    if snapshot.serial != zone.serial:
        raise BackendError(
            f"zone {zone.name}: the SOA serial {snapshot.serial} is not the zone's serial "
            f"{zone.serial}")
    return snapshot


def _origin(zone_name: str) -> dns.name.Name:
    return _name(zone_name, f"zone {zone_name!r}")


def _name(text: str, where: str) -> dns.name.Name:
    if not text.endswith(".") or text != text.lower():
        raise BackendError(f"{where}: names are absolute and lower case, like 'web-1.bots.'")
    try:
        return dns.name.from_text(text)
    except dns.exception.DNSException as exc:
        raise BackendError(f"{where}: {text!r} is not a DNS name ({exc})") from exc


def _parse(recordset: RecordSet, origin: dns.name.Name) -> dns.rrset.RRset:
    where = f"zone {origin}: {recordset.name} {recordset.type}"
    name = _name(recordset.name, where)
    try:
        rdtype = dns.rdatatype.RdataType.make(recordset.type)
    except dns.exception.DNSException as exc:
        raise BackendError(f"{where}: unknown record type") from exc
    if not recordset.records:
        raise BackendError(f"{where}: the recordset has no records")
    rrset = dns.rrset.RRset(name, dns.rdataclass.IN, rdtype)
    for text in recordset.records:
        try:
            rdata = dns.rdata.from_text(
                dns.rdataclass.IN, rdtype, text, origin=None, relativize=False)
            rdata.to_wire()  # names in the data must be absolute: a relative one fails here
        except (dns.exception.DNSException, ValueError) as exc:
            raise BackendError(
                f"{where}: {text!r} is not a valid {recordset.type} record ({exc})") from exc
        rrset.add(rdata, recordset.ttl)
    return rrset
