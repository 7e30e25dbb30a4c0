"""How the embedded DNS server answers one query: wire bytes in, wire messages out.

Authoritative only (RFC 1034 §4.3.2, RFC 2308), with minimal responses:

- a name in no served zone gets REFUSED; the deepest served zone answers otherwise;
- an exact match is answered with AA; a CNAME at the name is answered and followed
  inside the same zone (the target's records are added, up to MAX_CHAIN links);
- a name with no records of the type, or an empty non-terminal, is NODATA and a missing
  name NXDOMAIN, both with the SOA in AUTHORITY at TTL min(SOA TTL, SOA minimum);
- a name at or below an NS record below the apex gets a referral (not authoritative):
  the NS records in AUTHORITY and the in-zone addresses of the name servers as glue;
- ANY is answered with every rrset of the name (RFC 8482's short answer is not used);
- AXFR, and IXFR as an AXFR, over TCP only and to the configured secondaries only
  (everyone else gets REFUSED): the SOA, every rrset, the SOA again;
- UDP answers are at most the server's own size (``[dns] max_udp_size``), however much
  the client's EDNS offers, so a small query cannot draw a large answer;
- no wildcards, no DNSSEC, no additional-section processing for MX, SRV or CNAME targets.

A packet whose header cannot be read is dropped; a readable header with a bad body gets
FORMERR; responses (QR set) are never answered, so two servers cannot loop.
"""

from __future__ import annotations

import io
import logging
import struct
from collections.abc import Mapping

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from labs.dns.server_zone import ZoneSnapshot

log = logging.getLogger("labs.dns.server")

HEADER = struct.Struct("!HHHHHH")
#: A UDP answer's size limit without EDNS (RFC 1035), and the size we offer with it.
CLASSIC_UDP_SIZE = 512
OUR_UDP_SIZE = 1232
TCP_MESSAGE_SIZE = 65535
#: Room for records in a transfer message: 64 KiB less the header and the question.
TRANSFER_ROOM = TCP_MESSAGE_SIZE - 12 - 260
#: How many CNAMEs one answer follows before it stops (loops end here too).
MAX_CHAIN = 8

Zones = Mapping[dns.name.Name, ZoneSnapshot]


def respond(wire: bytes, zones: Zones, *, tcp: bool, client: str,
            udp_limit: int = OUR_UDP_SIZE, may_transfer: bool = False) -> list[bytes]:
    """The messages that answer `wire` (none: drop it; several: a zone transfer).

    A UDP answer is at most `udp_limit` bytes, whatever the client's EDNS offers (the
    rest is TC: ask over TCP); transfers go only to a client that `may_transfer`.
    """
    try:
        query = dns.message.from_wire(wire)
    except dns.message.ShortHeader:
        log.debug("%s: dropped %d bytes without a DNS header", client, len(wire))
        return []
    except Exception as exc:  # a bad body is answered with FORMERR, whatever broke
        log.debug("%s: malformed query (%s)", client, exc)
        return _formerr(wire)
    if query.flags & dns.flags.QR:
        log.debug("%s: dropped a response sent as a query", client)
        return []
    if len(query.question) != 1:
        return [_error(query, dns.rcode.FORMERR, tcp, udp_limit)]
    if query.edns > 0:
        response = dns.message.make_response(query, our_payload=udp_limit)
        response.use_edns(0, payload=udp_limit)  # RFC 6891: answer at the version we know
        response.set_rcode(dns.rcode.BADVERS)  # after use_edns, which resets the OPT flags
        return [_render(response, query, tcp, udp_limit)]
    question = query.question[0]
    log.debug("%s: %s %s %s", client, question.name, question.rdtype.name,
              "tcp" if tcp else "udp")
    if query.opcode() != dns.opcode.QUERY:
        return [_error(query, dns.rcode.NOTIMP, tcp, udp_limit)]
    zone = _find_zone(question.name, zones)
    if zone is None or question.rdclass != dns.rdataclass.IN:
        return [_error(query, dns.rcode.REFUSED, tcp, udp_limit)]
    if question.rdtype in (dns.rdatatype.AXFR, dns.rdatatype.IXFR):
        if not tcp or not may_transfer:
            log.debug("%s: transfer of %s refused", client, question.name)
            return [_error(query, dns.rcode.REFUSED, tcp, udp_limit)]
        if question.name != zone.origin:
            return [_error(query, dns.rcode.NOTAUTH, tcp, udp_limit)]
        return _transfer(query, zone)
    response = dns.message.make_response(query, our_payload=udp_limit)
    _resolve(response, zone, question.name, question.rdtype)
    return [_render(response, query, tcp, udp_limit)]


def _find_zone(qname: dns.name.Name, zones: Zones) -> ZoneSnapshot | None:
    name = qname
    while True:
        zone = zones.get(name)
        if zone is not None:
            return zone
        if name == dns.name.root:
            return None
        name = name.parent()


def _resolve(
    response: dns.message.Message,
    zone: ZoneSnapshot,
    qname: dns.name.Name,
    qtype: dns.rdatatype.RdataType,
) -> None:
    name = qname
    followed: set[dns.name.Name] = set()
    for _ in range(MAX_CHAIN + 1):
        cut = zone.cut_above(name)
        if cut is not None:
            if name == qname:  # only the first name decides authority for the response
                _refer(response, zone, cut)
            return
        response.flags |= dns.flags.AA
        node = zone.nodes.get(name)
        if node is None:
            if not zone.exists(name):
                response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(zone.negative_soa)
            return
        if qtype == dns.rdatatype.ANY:
            response.answer.extend(node.values())
            return
        rrset = node.get(qtype)
        if rrset is not None:
            response.answer.append(rrset)
            return
        cname = node.get(dns.rdatatype.CNAME)
        if cname is None:
            response.authority.append(zone.negative_soa)
            return
        response.answer.append(cname)
        followed.add(name)
        name = cname[0].target
        if not name.is_subdomain(zone.origin) or name in followed:
            return  # outside the zone (the resolver goes on from here) or a loop


def _refer(response: dns.message.Message, zone: ZoneSnapshot, cut: dns.name.Name) -> None:
    ns = zone.nodes[cut][dns.rdatatype.NS]
    response.authority.append(ns)
    for rdata in ns:
        target = rdata.target
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            glue = zone.nodes.get(target, {}).get(rdtype)
            if glue is not None:
                response.additional.append(glue)


def _render(response: dns.message.Message, query: dns.message.Message, tcp: bool,
            udp_limit: int) -> bytes:
    """Wire form within the size the client can take and we send over UDP (the
    smaller); over UDP, TC and no records if not."""
    if tcp:
        limit = TCP_MESSAGE_SIZE
    elif query.edns >= 0:
        limit = max(CLASSIC_UDP_SIZE, min(query.payload, udp_limit))
    else:
        limit = CLASSIC_UDP_SIZE
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        response.answer.clear()
        response.authority.clear()
        response.additional.clear()
        response.flags |= dns.flags.TC
        return response.to_wire(max_size=limit)


def _error(query: dns.message.Message, rcode: dns.rcode.Rcode, tcp: bool,
           udp_limit: int) -> bytes:
    response = dns.message.make_response(query, our_payload=udp_limit)
    response.set_rcode(rcode)
    return _render(response, query, tcp, udp_limit)


def _formerr(wire: bytes) -> list[bytes]:
    """FORMERR built from the bare header: the body could not be parsed, so none is echoed."""
    ident, flags = HEADER.unpack_from(wire)[:2]
    if flags & dns.flags.QR:
        return []
    opcode_bits = flags & 0x7800
    reply_flags = dns.flags.QR | opcode_bits | (flags & dns.flags.RD) | dns.rcode.FORMERR
    return [HEADER.pack(ident, reply_flags, 0, 0, 0, 0)]


def _transfer(query: dns.message.Message, zone: ZoneSnapshot) -> list[bytes]:
    """The zone as AXFR messages, each up to 64 KiB; SOA first and last (RFC 5936)."""
    chunks: list[list[dns.rrset.RRset]] = [[]]
    room = TRANSFER_ROOM
    for rrset in [*zone.rrsets(), zone.soa]:
        size = _uncompressed_size(rrset)  # compression only makes a message smaller
        if size > TRANSFER_ROOM:
            log.warning("zone %s: %s %s is too big to transfer", zone.origin, rrset.name,
                        rrset.rdtype.name)
            return [_error(query, dns.rcode.SERVFAIL, True, OUR_UDP_SIZE)]
        if size > room:
            chunks.append([])
            room = TRANSFER_ROOM
        chunks[-1].append(rrset)
        room -= size
    messages = []
    for index, chunk in enumerate(chunks):
        message = dns.message.Message(id=query.id)
        message.flags = dns.flags.QR | dns.flags.AA
        if index == 0:
            message.question = list(query.question)
        message.answer = chunk
        messages.append(message.to_wire(max_size=TCP_MESSAGE_SIZE))
    log.debug("zone %s: transfer in %d messages", zone.origin, len(messages))
    return messages


def _uncompressed_size(rrset: dns.rrset.RRset) -> int:
    buffer = io.BytesIO()
    rrset.to_wire(buffer)
    return buffer.tell()
