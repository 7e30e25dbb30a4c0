"""The embedded server's packet cache: a repeated UDP query is answered under its own id,
and a publish replaces every remembered answer at once."""

from __future__ import annotations

import dns.message
import dns.query
import dns.rcode

from labs.dns.backends.base import RecordSet, Zone
from labs.dns.backends.embedded import EmbeddedBackend


def zone(serial: int, address: str) -> Zone:
    return Zone("cache.test.", serial, (
        RecordSet("cache.test.", "SOA", 300, (
            f"ns1.cache.test. hostmaster.cache.test. {serial} 3600 600 86400 300",)),
        RecordSet("cache.test.", "NS", 300, ("ns1.cache.test.",)),
        RecordSet("www.cache.test.", "A", 300, (address,))))


def test_repeated_queries_get_their_own_id_and_fresh_data() -> None:
    backend = EmbeddedBackend("127.0.0.1", 0)
    try:
        backend.publish(zone(1, "10.0.0.1"))
        query = dns.message.make_query("www.cache.test.", "A")
        answers = []
        for query_id in (1, 2, 65535):
            query.id = query_id
            reply = dns.query.udp(query, "127.0.0.1", port=backend.port, timeout=2)
            assert reply.id == query_id
            answers.append([item.to_text() for rrset in reply.answer for item in rrset])
        assert answers == [["10.0.0.1"]] * 3
        backend.publish(zone(2, "10.0.0.2"))
        query.id = 7
        reply = dns.query.udp(query, "127.0.0.1", port=backend.port, timeout=2)
        assert [item.to_text() for rrset in reply.answer for item in rrset] == ["10.0.0.2"]
        backend.remove("cache.test.")
        reply = dns.query.udp(query, "127.0.0.1", port=backend.port, timeout=2)
        assert reply.rcode() == dns.rcode.REFUSED
    finally:
        backend.close()
