"""DNS converges on the live instances after an outage: the real DNS service (SQLite),
the embedded server, the sink; queries over the wire."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from labs.common.db import Database
from labs.dns.backends.embedded import EmbeddedBackend
from labs.dns.config import DnsOptions
from labs.dns.server_limits import ServerLimits
from labs.dns.service import DnsService
from labs.dns.sink import DnsSink
from tests.dns.test_sink import NAMING, MemoryInstances, create_end, delete_start, vm


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[DnsService, EmbeddedBackend]]:
    backend = EmbeddedBackend("127.0.0.1", 0, ServerLimits.of(allow_transfer=["127.0.0.1"]))
    db = Database(f"sqlite:///{tmp_path / 'dns.db'}")
    dns_service = DnsService(db, DnsOptions(), backend, "c" * 32)
    dns_service.prepare()
    try:
        yield dns_service, backend
    finally:
        backend.close()
        db.dispose()


def ask(backend: EmbeddedBackend, name: str, rdtype: str) -> tuple[str, list[str]]:
    reply = dns.query.udp(dns.message.make_query(name, rdtype), "127.0.0.1",
                          port=backend.port, timeout=2)
    return dns.rcode.to_text(reply.rcode()), sorted(
        item.to_text() for rrset in reply.answer for item in rrset
        if rrset.rdtype == dns.rdatatype.from_text(rdtype))


def reverse(address: str) -> str:
    return ".".join(reversed(address.split("."))) + ".in-addr.arpa."


def test_dns_converges_after_the_dns_service_was_down(
        service: tuple[DnsService, EmbeddedBackend]) -> None:
    dns_service, backend = service
    instances = MemoryInstances()
    sink = DnsSink(dns_service, instances, NAMING)
    sink.ensure_zones()
    named = [vm(f"early-{i}", "bots", f"10.68.1.{i + 1}") for i in range(5)]
    for instance in named:  # named while the DNS service ran
        instances.live[instance.id] = instance
        sink.on_notification(create_end(instance))
    assert ask(backend, "early-0.bots.labs.internal.", "A") == ("NOERROR", ["10.68.1.1"])

    # the DNS service is down: 15 more servers are created (20 in all), 10 are deleted
    # (among them the 5 it had named); it hears of none of it
    created = [vm(f"late-{i}", "bots", f"10.68.2.{i + 1}") for i in range(15)]
    instances.live.update({i.id: i for i in created})
    for instance in named + created[:5]:
        del instances.live[instance.id]
    assert len(instances.live) == 10

    assert sink.reconcile() == (10, 5)
    assert dns_service.managed_instance_ids() == set(instances.live)
    for instance in instances.live.values():
        fqdn = f"{instance.hostname}.bots.labs.internal."
        assert ask(backend, fqdn, "A") == ("NOERROR", list(instance.addresses))
        assert ask(backend, reverse(instance.addresses[0]), "PTR") == ("NOERROR", [fqdn])
    for instance in named + created[:5]:
        assert ask(backend, f"{instance.hostname}.bots.labs.internal.", "A")[0] == "NXDOMAIN"
        assert ask(backend, reverse(instance.addresses[0]), "PTR")[0] == "NXDOMAIN"
    transfer = dns.query.xfr("127.0.0.1", "labs.internal.", port=backend.port, timeout=5)
    a_records = [rrset for message in transfer for rrset in message.answer
                 if rrset.rdtype == dns.rdatatype.A]
    assert len(a_records) == 10  # no leaked records
    assert sink.reconcile() == (0, 0)

    # and afterwards, as usual: a delete removes exactly that instance's records
    gone = next(iter(instances.live.values()))
    sink.on_notification(delete_start(gone))
    assert ask(backend, f"{gone.hostname}.bots.labs.internal.", "A")[0] == "NXDOMAIN"
    assert len(dns_service.managed_instance_ids()) == 9
