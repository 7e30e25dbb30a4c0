"""PTR records of floating IPs (``/v2/reverse/floatingips``): a compute control plane with
the network API, the real DNS service with the embedded server, the conductor listing
the floating IPs over the bus; every answer asked of the server over the wire."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from labs.common.runner import compose
from labs.compute.rpcapi import ConductorAPI
from labs.dns.api import build_api as dns_api
from labs.dns.instances import ConductorFloatingIps
from tests.dns.api_helpers import error
from tests.dns.test_sink_convergence import reverse
from tests.dns.test_sink_floating import Named, floating, named, server  # noqa: F401
from tests.network.test_api_floatingips import ok, port_of

REGION = "RegionOne"


class Ptr:
    def __init__(self, cloud: Named, client: TestClient) -> None:
        self.named = cloud
        self.client = client

    def call(self, method: str, path: str, who: str = "alice", *,
             headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        token = (self.named.plane.cloud.admin_token() if who == "admin"
                 else self.named.plane.token(who))
        return self.client.request(method, f"/dns/v2/reverse/floatingips{path}",
                                   headers={"X-Auth-Token": token, **(headers or {})}, **kw)

    def ok(self, method: str, path: str, who: str = "alice", **kw: Any) -> Any:
        resp = self.call(method, path, who, **kw)
        assert resp.status_code < 300, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json()


@pytest.fixture
def ptr(named: Named) -> Iterator[Ptr]:  # noqa: F811
    named.service.floating.source = ConductorFloatingIps(ConductorAPI(named.bus))
    app = compose({"/dns": dns_api(named.service, named.plane.cloud.identity.tokens).app()})
    with TestClient(app, base_url="http://testserver",
                    raise_server_exceptions=False) as client:
        yield Ptr(named, client)


def test_a_project_names_its_floating_ip(ptr: Ptr) -> None:
    net = ptr.named
    net.sink.subscribe(net.bus)
    web, _ = server(net, "web")
    fip = floating(net, port_of(net.plane, web)["id"])
    address, key = fip["floating_ip_address"], f"{REGION}:{fip['id']}"
    name = reverse(address)
    net.answer(name, "PTR", ("NOERROR", ["web.a.labs.internal."]))  # the sink's name
    listed = ptr.ok("GET", "")["floatingips"]
    assert listed == [{"id": key, "address": address, "ptrdname": None, "ttl": None,
                       "description": None, "status": "ACTIVE", "action": "NONE",
                       "links": {"self": f"http://testserver/dns/v2/reverse/floatingips/{key}"}}]

    resp = ptr.call("PATCH", f"/{key}", json={"ptrdname": "www.example.org.", "ttl": 300,
                                              "description": "our site"})
    assert resp.status_code == 202, resp.text
    assert resp.json()["ptrdname"] == "www.example.org." and resp.json()["ttl"] == 300
    net.answer(name, "PTR", ("NOERROR", ["www.example.org."]))
    shown = ptr.ok("GET", f"/{key}")
    assert (shown["ptrdname"], shown["ttl"], shown["description"]) == (
        "www.example.org.", 300, "our site")
    # the sink's reconciler leaves the project's name alone
    net.sink.reconcile()
    net.answer(name, "PTR", ("NOERROR", ["www.example.org."]))

    # another project, a reader, an admin
    for who in ("bob",):
        error(ptr.call("GET", f"/{key}", who), 404, "not_found")
        error(ptr.call("PATCH", f"/{key}", who, json={"ptrdname": "evil.example.org."}),
              404, "not_found")
        assert ptr.ok("GET", "", who)["floatingips"] == []
    error(ptr.call("PATCH", f"/{key}", "ann", json={"ptrdname": "x.example.org."}), 403,
          "forbidden")
    assert ptr.ok("GET", f"/{key}", "ann")["ptrdname"] == "www.example.org."
    error(ptr.call("GET", f"/{key}", "admin"), 404, "not_found")  # not admin's project
    seen = ptr.ok("GET", f"/{key}", "admin", headers={"X-Auth-All-Projects": "true"})
    assert seen["ptrdname"] == "www.example.org."

    # unset: the sink names the address again
    resp = ptr.call("PATCH", f"/{key}", json={"ptrdname": None})
    assert resp.status_code == 202 and resp.json()["ptrdname"] is None
    net.answer(name, "PTR", ("NXDOMAIN", []))
    net.sink.reconcile()
    net.answer(name, "PTR", ("NOERROR", ["web.a.labs.internal."]))


def test_floating_ptr_bad_input(ptr: Ptr) -> None:
    net = ptr.named
    fip = floating(net)
    key = f"{REGION}:{fip['id']}"
    for body in ({}, {"ptrdname": 5}, {"ptrdname": "x.org.", "ttl": -1},
                 {"ptrdname": "x.org.", "colour": "red"}, []):
        error(ptr.call("PATCH", f"/{key}", json=body), 400, "invalid_object")
    error(ptr.call("PATCH", f"/{key}", json={"ptrdname": "no-dot"}), 400, "invalid_object")
    for bad in (f"OtherRegion:{fip['id']}", fip["id"], f"{REGION}:", f"{REGION}:nope"):
        error(ptr.call("GET", f"/{bad}"), 404, "not_found")
    assert ptr.ok("GET", f"/{key}")["ptrdname"] is None
    ok(net.plane, "DELETE", f"/floatingips/{fip['id']}")
    error(ptr.call("GET", f"/{key}"), 404, "not_found")


def test_a_released_floating_ip_loses_its_name(ptr: Ptr) -> None:
    net = ptr.named
    net.sink.subscribe(net.bus)
    fip = floating(net)
    address, key = fip["floating_ip_address"], f"{REGION}:{fip['id']}"
    ptr.ok("PATCH", f"/{key}", json={"ptrdname": "mine.example.org."})
    net.answer(reverse(address), "PTR", ("NOERROR", ["mine.example.org."]))
    ok(net.plane, "DELETE", f"/floatingips/{fip['id']}")
    net.answer(reverse(address), "PTR", ("NXDOMAIN", []))
    error(ptr.call("GET", f"/{key}"), 404, "not_found")
    assert ptr.ok("GET", "")["floatingips"] == []
