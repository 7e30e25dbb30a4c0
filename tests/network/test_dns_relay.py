"""The DNS relay with real parts: a network's dnsmasq (with the relay as its upstream)
answers a stand-in VM; the relay, inside the network's namespace, asks Labs' embedded
DNS server on the host's loopback, and a second one as a forwarder for other names."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from labs.dns.backends.base import RecordSet, Zone
from labs.dns.backends.embedded import EmbeddedBackend
from labs.network.agent.dns_relay.relay import (
    HEADER,
    RELAY_ADDRESS,
    RELAY_PORT,
    DnsRelay,
    parse_server,
    servfail,
)
from labs.network.agent.drivers.bridge.driver import BridgeDriver
from labs.network.agent.netns_sockets import NamespaceListenError
from labs.network.specs import InvalidRequest
from tests.network.conftest import METADATA_PORT, clean_up, network, port
from tests.network.guests import Guest, sh

CLOUD = "labs.test."
REVERSE = "68.10.in-addr.arpa."
OUTSIDE = "example.org."
DOMAINS = [CLOUD, REVERSE]


def zone(name: str, *recordsets: RecordSet, serial: int = 1) -> Zone:
    soa = RecordSet(name, "SOA", 60, (f"ns1.{CLOUD} hostmaster.{CLOUD} {serial} 3600 600 "
                                      "86400 60",))
    return Zone(name, serial, (soa, RecordSet(name, "NS", 60, (f"ns1.{CLOUD}",)),
                               *recordsets))


@pytest.fixture
def authoritative() -> Iterator[EmbeddedBackend]:
    """The cloud's zones: a VM of another project and its reverse name, and a record
    with many answers (more than fit in 512 bytes)."""
    server = EmbeddedBackend("127.0.0.1", 0)
    try:
        server.publish(zone(CLOUD,
                            RecordSet(f"web.other.{CLOUD}", "A", 60, ("10.68.9.5",)),
                            RecordSet(f"big.{CLOUD}", "TXT", 60,
                                      tuple(f'"{i:03d} {"x" * 60}"' for i in range(40)))))
        server.publish(zone(REVERSE,
                            RecordSet(f"5.9.{REVERSE}", "PTR", 60, (f"web.other.{CLOUD}",))))
        yield server
    finally:
        server.close()


@pytest.fixture
def forwarder() -> Iterator[EmbeddedBackend]:
    """Stands in for a recursive resolver: it knows a name outside the cloud."""
    server = EmbeddedBackend("127.0.0.1", 0)
    try:
        server.publish(zone(OUTSIDE, RecordSet(f"www.{OUTSIDE}", "A", 60, ("192.0.2.80",))))
        yield server
    finally:
        server.close()


@pytest.fixture
def relayed(prefix: str, state_dir: Path) -> Iterator[BridgeDriver]:
    """A bridge driver whose dnsmasq ask the relay what they do not know."""
    drv = BridgeDriver(state_dir / "relayed", prefix=prefix, metadata_port=METADATA_PORT,
                       upstream_dns=(f"{RELAY_ADDRESS}#{RELAY_PORT}",))
    try:
        yield drv
    finally:
        clean_up(drv, prefix)


def dig(guest: Guest, server: str, *query: str) -> tuple[str, list[str]]:
    """(status, answers) of one query from the guest."""
    done = sh("dig", "+time=3", "+tries=1", f"@{server}", *query, netns=guest.netns)
    status = re.search(r"status: (\w+)", done.stdout)
    assert status is not None, done.stdout + done.stderr
    answers = [line.split()[-1] for line in done.stdout.split(";; ANSWER SECTION:")[-1]
               .split("\n\n")[0].splitlines()[1:]] if "ANSWER SECTION" in done.stdout else []
    return status.group(1), answers


def guest_on(driver: BridgeDriver, prefix: str, state_dir: Path) -> tuple[Guest, str]:
    spec = network("bots", 1)
    driver.ensure_network(spec)
    p = port(spec, 10, "vm1")
    guest = Guest(f"{prefix}-vm-vm1", driver.plug(p, kind="veth"), state_dir)
    guest.dhcp()
    return guest, spec.gateway


def test_vms_resolve_the_clouds_names_through_the_relay(
        relayed: BridgeDriver, prefix: str, state_dir: Path,
        authoritative: EmbeddedBackend, forwarder: EmbeddedBackend,
        caplog: pytest.LogCaptureFixture) -> None:
    guest, gateway = guest_on(relayed, prefix, state_dir)
    spec = relayed.list_networks()[0]
    relay = DnsRelay((authoritative.address, authoritative.port),
                     [(forwarder.address, forwarder.port)], cloud_domains=DOMAINS,
                     timeout=1.0)
    try:
        relay.add_network(spec.id, relayed.namespace(spec.id))
        relay.add_network(spec.id, relayed.namespace(spec.id))  # a repeat is fine
        assert relay.networks() == {spec.id: relayed.namespace(spec.id)}

        # dnsmasq answers its own ports' names; the rest comes from the relay
        assert dig(guest, gateway, "A", "vm1.bots.labs.test") == ("NOERROR", ["10.68.1.10"])
        assert dig(guest, gateway, "A", f"web.other.{CLOUD}") == ("NOERROR", ["10.68.9.5"])
        assert dig(guest, gateway, "-x", "10.68.9.5") == ("NOERROR", [f"web.other.{CLOUD}"])
        assert dig(guest, gateway, "A", f"nowhere.{CLOUD}")[0] == "NXDOMAIN"
        # a name in the project's domain that dnsmasq does not know is asked for too
        assert dig(guest, gateway, "A", "gone.bots.labs.test")[0] == "NXDOMAIN"
        # outside the cloud's zones: the forwarder
        assert dig(guest, gateway, "A", f"www.{OUTSIDE}") == ("NOERROR", ["192.0.2.80"])
        # an answer too big for UDP comes over TCP (dnsmasq asks the relay again)
        status, texts = dig(guest, gateway, "TXT", f"big.{CLOUD}")
        assert status == "NOERROR" and len(texts) == 40
        status, texts = dig(guest, gateway, "+tcp", "TXT", f"big.{CLOUD}")
        assert status == "NOERROR" and len(texts) == 40

        # junk sent to the relay gets no answer and harms nothing
        junk = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                f"[s.sendto(b, ('{RELAY_ADDRESS}', {RELAY_PORT})) for b in "
                "(b'', b'x', b'\\x00' * 11, b'\\x12\\x34\\x80' + b'\\x00' * 9, b'\\xff' * 600)]")
        assert sh("python3", "-c", junk, netns=relayed.namespace(spec.id)).returncode == 0
        assert dig(guest, gateway, "A", f"web.other.{CLOUD}") == ("NOERROR", ["10.68.9.5"])

        # the cloud's server down: SERVFAIL for names dnsmasq has not cached, said in
        # the log
        authoritative.close()
        with caplog.at_level(logging.WARNING, logger="labs.network.agent.dns_relay.relay"):
            assert dig(guest, gateway, "A", f"never-asked.{CLOUD}")[0] == "SERVFAIL"
        assert "did not answer" in caplog.text
        assert dig(guest, gateway, "A", "vm1.bots.labs.test") == ("NOERROR", ["10.68.1.10"])

        relay.remove_network(spec.id)
        assert relay.networks() == {}
        assert sh("dig", "+time=1", "+tries=1", f"@{RELAY_ADDRESS}", "A", f"www.{OUTSIDE}",
                  netns=relayed.namespace(spec.id)).returncode != 0
    finally:
        relay.close()


def test_without_forwarders_other_names_are_refused(
        relayed: BridgeDriver, prefix: str, state_dir: Path,
        authoritative: EmbeddedBackend) -> None:
    guest, gateway = guest_on(relayed, prefix, state_dir)
    spec = relayed.list_networks()[0]
    with_relay = DnsRelay((authoritative.address, authoritative.port),
                          cloud_domains=DOMAINS, timeout=1.0)
    try:
        with_relay.add_network(spec.id, relayed.namespace(spec.id))
        assert dig(guest, gateway, "A", f"www.{OUTSIDE}")[0] == "REFUSED"
        assert dig(guest, gateway, "A", f"web.other.{CLOUD}") == ("NOERROR", ["10.68.9.5"])
    finally:
        with_relay.close()
    with pytest.raises(NamespaceListenError, match="closed"):
        with_relay.add_network(spec.id, relayed.namespace(spec.id))


def test_without_a_relay_dnsmasq_answers_only_its_network(
        driver: BridgeDriver, prefix: str, state_dir: Path) -> None:
    guest, gateway = guest_on(driver, prefix, state_dir)
    assert dig(guest, gateway, "A", "vm1.bots.labs.test") == ("NOERROR", ["10.68.1.10"])
    assert dig(guest, gateway, "A", "gone.bots.labs.test")[0] == "NXDOMAIN"  # local
    assert dig(guest, gateway, "A", f"web.other.{CLOUD}")[0] == "REFUSED"


def test_relay_listening_errors(relayed: BridgeDriver, authoritative: EmbeddedBackend) -> None:
    spec = network("bots", 1)
    relayed.ensure_network(spec)
    relay = DnsRelay((authoritative.address, authoritative.port), cloud_domains=DOMAINS)
    try:
        with pytest.raises(NamespaceListenError, match="does not exist"):
            relay.add_network(spec.id, relayed.namespace(spec.id) + "-nowhere")
        taken = DnsRelay((authoritative.address, authoritative.port),
                         cloud_domains=DOMAINS)
        try:
            taken.add_network(spec.id, relayed.namespace(spec.id))
            with pytest.raises(NamespaceListenError, match="taken by another listener"):
                relay.add_network(spec.id, relayed.namespace(spec.id))
        finally:
            taken.close()
        assert relay.networks() == {}
    finally:
        relay.close()


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1", ("127.0.0.1", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)),
    ("::1", ("::1", 53)), ("[::1]:5300", ("::1", 5300)), (" 10.0.0.2 ", ("10.0.0.2", 53))])
def test_parse_server(text: str, expected: tuple[str, int]) -> None:
    assert parse_server(text) == expected


@pytest.mark.parametrize("text", ["", "dns.example.org", "127.0.0.1:x", "127.0.0.1:0",
                                  "127.0.0.1:70000", "[::1]x", "300.1.1.1"])
def test_parse_server_refuses(text: str) -> None:
    with pytest.raises(InvalidRequest, match="bad DNS server"):
        parse_server(text)



def test_servfail_answers_the_question() -> None:
    query = dns.message.make_query("web.other.labs.test.", "A")
    answer = dns.message.from_wire(servfail(query.to_wire()) or b"")
    assert answer.id == query.id and answer.rcode() == dns.rcode.SERVFAIL
    assert answer.question == query.question and answer.flags & dns.flags.QR
    assert answer.flags & dns.flags.RD
    wire = query.to_wire()
    for broken in (wire[:HEADER], wire[:-2], wire[:4] + b"\x00\x02" + wire[6:]):
        assert servfail(broken) is None


def test_public_names_never_come_from_the_clouds_zones(
        relayed: BridgeDriver, prefix: str, state_dir: Path,
        authoritative: EmbeddedBackend, forwarder: EmbeddedBackend) -> None:
    """A zone the cloud serves for a public name (a project's ``example.org.``) is not
    what VMs get for it: only the cloud's domains are asked of the cloud's server."""
    authoritative.publish(zone(OUTSIDE, RecordSet(f"www.{OUTSIDE}", "A", 60, ("10.66.6.6",)),
                               RecordSet(f"only.{OUTSIDE}", "A", 60, ("10.66.6.7",)),
                               RecordSet(f"mail.{OUTSIDE}", "A", 60, ("10.66.6.9",))))
    authoritative.publish(zone("evillabs.test.", RecordSet("evillabs.test.", "A", 60,
                                                           ("10.66.6.8",))))
    guest, gateway = guest_on(relayed, prefix, state_dir)
    spec = relayed.list_networks()[0]
    relay = DnsRelay((authoritative.address, authoritative.port),
                     [(forwarder.address, forwarder.port)], cloud_domains=DOMAINS,
                     timeout=1.0)
    try:
        relay.add_network(spec.id, relayed.namespace(spec.id))
        assert dig(guest, gateway, "A", f"www.{OUTSIDE}") == ("NOERROR", ["192.0.2.80"])
        assert dig(guest, gateway, "A", "WWW.Example.ORG") == ("NOERROR", ["192.0.2.80"])
        assert dig(guest, gateway, "A", f"only.{OUTSIDE}")[0] == "NXDOMAIN"
        assert dig(guest, gateway, "A", f"web.other.{CLOUD}") == ("NOERROR", ["10.68.9.5"])
    finally:
        relay.close()
    alone = DnsRelay((authoritative.address, authoritative.port), cloud_domains=DOMAINS,
                     timeout=1.0)
    try:
        alone.add_network(spec.id, relayed.namespace(spec.id))
        # (dnsmasq remembers www.example.org from above: ask what it has not seen)
        assert dig(guest, gateway, "A", f"mail.{OUTSIDE}") == ("REFUSED", [])
        assert dig(guest, gateway, "A", "evillabs.test") == ("REFUSED", [])
        assert dig(guest, gateway, "A", f"web.other.{CLOUD}") == ("NOERROR", ["10.68.9.5"])
    finally:
        alone.close()


class FakeServer:
    """A UDP server on loopback that answers each query with ``answers(query)`` (wire
    messages sent in order) and remembers the source ports it was asked from."""

    def __init__(self, answers: Callable[[dns.message.Message], list[bytes]]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = self.sock.getsockname()
        self.answers = answers
        self.ports: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            self.ports.append(peer[1])
            for answer in self.answers(dns.message.from_wire(wire)):
                self.sock.sendto(answer, peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def answer_for(query: dns.message.Message, name: str, address: str) -> bytes:
    response = dns.message.make_response(query)
    if name != query.question[0].name.to_text():
        response.question = [dns.rrset.RRset(dns.name.from_text(name), dns.rdataclass.IN,
                                              dns.rdatatype.A)]
    response.answer.append(dns.rrset.from_text(name, 60, "IN", "A", address))
    return response.to_wire()


def ask(relay: DnsRelay, name: str, ident: int = 4242) -> dns.message.Message:
    query = dns.message.make_query(name, "A", id=ident)
    done = asyncio.run_coroutine_threadsafe(relay._resolve(query.to_wire(), relay._ask_udp),
                                            relay._loop).result(timeout=10)
    return dns.message.from_wire(done or b"")


def test_forwarder_queries_come_from_random_ports_and_need_the_question() -> None:
    """A forged answer (right id, another question) is ignored; the true one is taken;
    every forwarded query leaves from a port of its own."""
    forged_first = FakeServer(lambda q: [answer_for(q, "forged.example.org.", "10.66.6.6"),
                                         answer_for(q, q.question[0].name.to_text(),
                                                    "192.0.2.1")])
    only_forged = FakeServer(lambda q: [answer_for(q, "forged.example.org.", "10.66.6.6")])
    relay = DnsRelay(only_forged.address, [forged_first.address],
                     cloud_domains=["labs.test."], timeout=0.5)
    try:
        for i in range(6):
            answer = ask(relay, f"n{i}.example.org.", ident=100 + i)
            assert answer.id == 100 + i and answer.rcode() == dns.rcode.NOERROR
            assert [r.to_text() for rrset in answer.answer for r in rrset] == ["192.0.2.1"]
        assert len(set(forged_first.ports)) == 6, forged_first.ports
        # the cloud's server answering another question is no answer: SERVFAIL
        assert ask(relay, "web.labs.test.").rcode() == dns.rcode.SERVFAIL
        # a question the relay cannot read goes nowhere
        asked = len(forged_first.ports) + len(only_forged.ports)
        two = dns.message.make_query("a.example.org.", "A")
        two.question.append(two.question[0])
        done = asyncio.run_coroutine_threadsafe(
            relay._resolve(two.to_wire(), relay._ask_udp), relay._loop).result(timeout=10)
        assert done is not None and done[3] & 0x0F == dns.rcode.FORMERR
        assert len(forged_first.ports) + len(only_forged.ports) == asked
    finally:
        relay.close()
        forged_first.close()
        only_forged.close()
    forged_only = DnsRelay(only_forged.address, [only_forged.address],
                           cloud_domains=["labs.test."], timeout=0.5)
    try:
        fresh = FakeServer(lambda q: [answer_for(q, "forged.example.org.", "10.66.6.6")])
        forged_only.forwarders = (fresh.address,)
        assert ask(forged_only, "x.example.org.").rcode() == dns.rcode.SERVFAIL
        fresh.close()
    finally:
        forged_only.close()
