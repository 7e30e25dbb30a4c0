"""The sink names floating IPs: a whole compute control plane with the network API, the
real DNS service (SQLite) with the embedded server, and the sink on a bus of its own (as
in its own process); every answer is asked over the wire."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from labs.common.bus import InProcessBus
from labs.common.db import Database
from labs.compute.rpcapi import ConductorAPI
from labs.dns.backends.embedded import EmbeddedBackend
from labs.dns.config import DnsOptions
from labs.dns.instances import ConductorInstances
from labs.dns.server_limits import ServerLimits
from labs.dns.service import DnsService
from labs.dns.sink import DnsSink, Naming
from labs.network.config import NetworkOptions
from tests.compute.conftest import Plane, make_plane
from tests.conftest import Cloud
from tests.dns.test_sink_convergence import ask, reverse
from tests.network.test_api_floatingips import PROXY, ok, port_of, public_id

OPTIONS = NetworkOptions()
NAMING = Naming.for_ranges(OPTIONS.dns_domain, [OPTIONS.fixed_range],
                           floating=[OPTIONS.floating_range])


@dataclass
class Named:
    plane: Plane
    service: DnsService
    backend: EmbeddedBackend
    sink: DnsSink
    bus: InProcessBus  # the DNS process's

    def answer(self, name: str, rdtype: str, expected: tuple[str, list[str]],
               timeout: float = 10.0) -> None:
        """Wait until the server answers `name` as `expected` (the sink hears of changes
        a moment after the API returns)."""
        deadline = time.monotonic() + timeout
        got = ask(self.backend, name, rdtype)
        while got != expected and time.monotonic() < deadline:
            time.sleep(0.05)
            got = ask(self.backend, name, rdtype)
        assert got == expected, f"{name} {rdtype}: {got} != {expected}"


@pytest.fixture
def named(cloud: Cloud, tmp_path: Path) -> Iterator[Named]:
    for plane in make_plane(cloud, tmp_path, hosts=("h1",)):
        backend = EmbeddedBackend("127.0.0.1", 0, ServerLimits.of())
        db = Database(f"sqlite:///{tmp_path / 'dns.db'}")
        bus = InProcessBus(plane.namespace, publisher_id="dns.sink")
        try:
            service = DnsService(db, DnsOptions(), backend, "c" * 32)
            service.prepare()
            sink = DnsSink(service, ConductorInstances(ConductorAPI(bus)), NAMING)
            sink.ensure_zones()
            with bus:
                yield Named(plane, service, backend, sink, bus)
        finally:
            backend.close()
            db.dispose()


def server(named: Named, name: str) -> tuple[str, str]:
    """A new server of project a on its network: its id and fixed address."""
    made = named.plane.create(name=name, networks="auto")
    return made["id"], named.plane.show(made["id"])["addresses"]["lan"][0]["addr"]


def floating(named: Named, port_id: str | None = None) -> dict[str, Any]:
    body = {"floating_network_id": public_id(named.plane), "port_id": port_id}
    return dict(ok(named.plane, "POST", "/floatingips", json={"floatingip": body})[
        "floatingip"])


def test_floating_ips_are_named_as_they_move(named: Named) -> None:
    named.sink.subscribe(named.bus)
    web, web_ip = server(named, "web")
    db, _ = server(named, "db")
    named.answer("web.a.labs.internal.", "A", ("NOERROR", [web_ip]))
    fip = floating(named, port_of(named.plane, web)["id"])
    address = fip["floating_ip_address"]
    ptr = reverse(address)
    assert ptr.endswith(".4.24.172.in-addr.arpa.")
    named.answer(ptr, "PTR", ("NOERROR", ["web.a.labs.internal."]))
    assert (web, ("4.24.172.in-addr.arpa.", ptr, "PTR", "web.a.labs.internal.")) in \
        named.service.managed_records(type_="PTR")  # tagged with its instance

    # moved to another server, taken from it, given to it again
    ok(named.plane, "PUT", f"/floatingips/{fip['id']}",
       json={"floatingip": {"port_id": port_of(named.plane, db)["id"]}})
    named.answer(ptr, "PTR", ("NOERROR", ["db.a.labs.internal."]))
    ok(named.plane, "PUT", f"/floatingips/{fip['id']}", json={"floatingip": {"port_id": None}})
    named.answer(ptr, "PTR", ("NXDOMAIN", []))
    named.plane.ok("POST", f"/servers/{db}/action", version=PROXY,
                   json={"addFloatingIp": {"address": address}})
    named.answer(ptr, "PTR", ("NOERROR", ["db.a.labs.internal."]))

    # the server goes: its floating IP's name with it
    named.plane.ok("DELETE", f"/servers/{db}")
    named.plane.wait_gone(db)
    named.answer(ptr, "PTR", ("NXDOMAIN", []))
    named.answer("db.a.labs.internal.", "A", ("NXDOMAIN", []))

    # released while associated: the name goes
    second = floating(named, port_of(named.plane, web)["id"])
    named.answer(reverse(second["floating_ip_address"]), "PTR",
                 ("NOERROR", ["web.a.labs.internal."]))
    ok(named.plane, "DELETE", f"/floatingips/{second['id']}")
    named.answer(reverse(second["floating_ip_address"]), "PTR", ("NXDOMAIN", []))
    named.answer("web.a.labs.internal.", "A", ("NOERROR", [web_ip]))  # the rest stays


def test_the_reconciler_adds_and_removes_floating_ip_names(named: Named) -> None:
    # the sink hears nothing: the reconciler finds every change
    web, web_ip = server(named, "web")
    fip = floating(named, port_of(named.plane, web)["id"])
    ptr = reverse(fip["floating_ip_address"])
    assert named.sink.reconcile() == (1, 0)
    named.answer("web.a.labs.internal.", "A", ("NOERROR", [web_ip]))
    named.answer(ptr, "PTR", ("NOERROR", ["web.a.labs.internal."]))

    ok(named.plane, "PUT", f"/floatingips/{fip['id']}", json={"floatingip": {"port_id": None}})
    assert named.sink.reconcile_floating(
        named.sink.instances.live_instances()) == 1  # stale: removed
    named.answer(ptr, "PTR", ("NXDOMAIN", []))
    named.answer("web.a.labs.internal.", "A", ("NOERROR", [web_ip]))

    ok(named.plane, "PUT", f"/floatingips/{fip['id']}",
       json={"floatingip": {"port_id": port_of(named.plane, web)["id"]}})
    named.sink.reconcile()  # missing: added
    named.answer(ptr, "PTR", ("NOERROR", ["web.a.labs.internal."]))
    assert named.sink.reconcile_floating(named.sink.instances.live_instances()) == 0

    # a name the sink once gave a floating IP that is no longer this server's
    stray = (NAMING.reverse_zones[-1], reverse("172.24.4.99"), "PTR", "web.a.labs.internal.")
    kept = [r for _, r in named.service.managed_records(instance_id=web)]
    named.service.set_instance_records(web, [*kept, stray])
    named.answer(stray[1], "PTR", ("NOERROR", ["web.a.labs.internal."]))
    named.sink.reconcile()
    named.answer(stray[1], "PTR", ("NXDOMAIN", []))
    named.answer(ptr, "PTR", ("NOERROR", ["web.a.labs.internal."]))


def test_the_conductor_lists_floating_ips(named: Named) -> None:
    web, _ = server(named, "web")
    fip = floating(named, port_of(named.plane, web)["id"])
    (live,) = named.sink.instances.live_instances()
    assert live.floating == (fip["floating_ip_address"],)
