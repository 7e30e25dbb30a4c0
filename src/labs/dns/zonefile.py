"""Zone files (RFC 1035 master files, ``text/dns``) as Designate exports and imports them,
rendered and parsed with dnspython."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone

from labs.dns.errors import BadRequest
from labs.dns.rdata import USER_TYPES

#: Directives an import refuses: $INCLUDE reads files, $GENERATE makes any number of
#: records.
DIRECTIVES = re.compile(rb"^[ \t]*\$(GENERATE|INCLUDE)", re.IGNORECASE | re.MULTILINE)
#: The largest zone file an import reads.
MAX_ZONE_FILE = 112 * 1024


class BadZoneFile(BadRequest):
    """A zone file that cannot be imported (the import ends in ERROR with this message)."""

    error_type = "bad_zone_file"


@dataclass
class ParsedZone:
    """What an import makes: the zone's fields and its recordsets (the SOA's and the apex
    NS's are the service's own, not imported)."""

    name: str
    email: str
    ttl: int
    #: (name, type, ttl or None for the zone's, records)
    recordsets: list[tuple[str, str, int | None, list[str]]] = field(default_factory=list)


def render(zone_name: str, zone_ttl: int,
           recordsets: list[tuple[str, str, int | None, list[str]]]) -> str:
    """The zone file: ``$ORIGIN`` and ``$TTL`` then every record, absolute names."""
    origin = dns.name.from_text(zone_name)
    zone = dns.zone.Zone(origin, relativize=False)
    for name, type_, ttl, records in recordsets:
        rdtype = dns.rdatatype.from_text(type_)
        rdataset = zone.find_rdataset(dns.name.from_text(name), rdtype, create=True)
        for data in records:
            rdataset.add(dns.rdata.from_text(dns.rdataclass.IN, rdtype, data, origin=None,
                                             relativize=False),
                         zone_ttl if ttl is None else ttl)
    body = zone.to_text(relativize=False, want_origin=False)
    return f"$ORIGIN {zone_name}\n$TTL {zone_ttl}\n\n{body}"


def rname_to_email(rname: dns.name.Name) -> str:
    """The SOA's mailbox as an address: ``host\\.master.example.org.`` ->
    ``host.master@example.org``."""
    labels = [label.decode("ascii", "replace") for label in rname.relativize(
        dns.name.root).labels]
    if len(labels) < 3:
        raise BadZoneFile(f"The SOA's mailbox {rname} is not an address")
    return f"{labels[0]}@{'.'.join(labels[1:])}"


def parse(text: bytes) -> ParsedZone:
    """A zone file read as Designate reads one: its origin is ``$ORIGIN`` or the SOA's
    owner; it needs an SOA; the types are those Labs serves."""
    if len(text) > MAX_ZONE_FILE:
        raise BadZoneFile(f"The zone file is larger than {MAX_ZONE_FILE} bytes")
    if DIRECTIVES.search(text):
        raise BadZoneFile("$GENERATE and $INCLUDE are not read in an import")
    try:
        source = text.decode("utf-8")
        zone = dns.zone.from_text(source, origin=None, relativize=False, check_origin=True)
    except UnicodeDecodeError:
        raise BadZoneFile("The zone file is not UTF-8 text") from None
    except dns.zone.NoSOA:
        raise BadZoneFile("An SOA record is required") from None
    except dns.zone.NoNS:
        raise BadZoneFile("An NS record at the zone's origin is required") from None
    except (dns.exception.DNSException, ValueError, AssertionError, KeyError,
            TypeError) as exc:  # dnspython's reader has all of these for bad input
        raise BadZoneFile(f"The zone file could not be read: {exc}"[:250]) from None
    origin = zone.origin
    assert origin is not None  # from_text sets it or raises
    soa_set = zone.get_rdataset(origin, dns.rdatatype.SOA)
    assert soa_set is not None  # check_origin requires it
    soa = soa_set[0]
    parsed = ParsedZone(origin.to_text().lower(), rname_to_email(soa.rname), soa_set.ttl)
    for name, node in sorted(zone.nodes.items()):
        owner = name.to_text().lower()
        for rdataset in node.rdatasets:
            type_ = dns.rdatatype.to_text(rdataset.rdtype)
            if rdataset.rdclass != dns.rdataclass.IN:
                raise BadZoneFile(f"{owner} {type_}: only class IN is served")
            if type_ == "SOA" or (type_ == "NS" and name == origin):
                continue  # the service's own
            if type_ not in USER_TYPES:
                raise BadZoneFile(f"{owner} {type_}: not a record type Labs serves")
            ttl = None if rdataset.ttl == parsed.ttl else rdataset.ttl
            records = [r.to_text(origin=None, relativize=False) for r in rdataset]
            parsed.recordsets.append((owner, type_, ttl, records))
    return parsed
