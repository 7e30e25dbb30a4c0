"""The network API's discovery, extensions, tokens, error bodies and methods it does not
have yet."""

from __future__ import annotations

import pytest

from labs.identity.bootstrap import NETWORK, ensure_catalog, withdraw_from_catalog
from labs.network.api.discovery import EXTENSIONS
from tests.network.api_helpers import V2, Net, error, net_fixture  # noqa: F401


def test_versions_need_no_token(net: Net) -> None:
    resp = net.client.get("/network/")
    assert resp.status_code == 200
    assert resp.json() == {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [
        {"href": "http://testserver/network/v2.0/", "rel": "self"}]}]}
    for path in ("/network/v2.0", "/network/v2.0/"):
        resources = net.client.get(path).json()["resources"]
        assert [(r["name"], r["collection"]) for r in resources] == [
            ("network", "networks"), ("subnet", "subnets"), ("port", "ports"),
            ("router", "routers"), ("floatingip", "floatingips")]


def test_openapi_document_is_public_and_complete(net: Net) -> None:
    doc = net.client.get(f"{V2}/openapi.json").json()
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) >= {"/v2.0/networks", "/v2.0/networks/{network_id}",
                                 "/v2.0/subnets", "/v2.0/subnets/{subnet_id}",
                                 "/v2.0/ports", "/v2.0/ports/{port_id}",
                                 "/v2.0/floatingips", "/v2.0/floatingips/{floatingip_id}",
                                 "/v2.0/routers", "/v2.0/routers/{router_id}",
                                 "/v2.0/routers/{router_id}/add_router_interface",
                                 "/v2.0/routers/{router_id}/remove_router_interface",
                                 "/v2.0/extensions", "/v2.0/extensions/{alias}"}


def test_extensions_list_what_is_implemented(net: Net) -> None:
    found = net.ok("/extensions")["extensions"]
    assert sorted(e["alias"] for e in found) == sorted(
        ["external-net", "net-mtu", "project-id", "pagination", "sorting",
         "filter-validation", "security-group", "standard-attr-description",
         "standard-attr-revisions", "revision-if-match", "standard-attr-tag", "router",
         "quotas", "quota_details"])
    assert all(set(e) == {"alias", "name", "description", "updated", "links"}
               for e in found)
    assert len(EXTENSIONS) == len(found)
    shown = net.ok("/extensions/external-net", "bob")["extension"]
    assert shown["alias"] == "external-net" and shown["name"] == "Neutron external network"
    assert net.ok("/extensions/security-group")["extension"]["name"] == "security-group"
    assert net.ok("/extensions/router")["extension"]["name"] == "Neutron L3 Router"
    for alias in ("stateful-security-group", "ext-gw-mode", "l3_agent_scheduler",
                  "standard-attr-tag-ext", "x" * 300):
        assert "does not exist" in error(net.call("GET", f"/extensions/{alias}"), 404,
                                         "HTTPNotFound")["message"]


def test_a_token_is_needed(net: Net) -> None:
    for path in ("/networks", "/subnets", "/extensions", "/networks/x", "/subnets/x",
                 "/extensions/net-mtu"):
        error(net.call("GET", path, who=None), 401, "HTTPUnauthorized")
        error(net.call("GET", path, who=None, headers={"X-Auth-Token": "junk"}), 401,
              "HTTPUnauthorized")


def test_an_unscoped_token_may_not_look(net: Net) -> None:
    unscoped = net.cloud.token("alice", "pw")
    resp = net.call("GET", "/networks", who=None, headers={"X-Auth-Token": unscoped})
    error(resp, 403, "PolicyNotAuthorized")
    error(net.call("GET", "/subnets", who=None, headers={"X-Auth-Token": unscoped}), 403,
          "PolicyNotAuthorized")


WRITES = [("PATCH", "/ports/{p}"), ("POST", "/ports/{p}"), ("POST", "/extensions"),
          ("PATCH", "/networks/{a}"), ("POST", "/networks/{a}")]


@pytest.mark.parametrize("who", ["admin", "alice"])
def test_methods_a_resource_does_not_have_are_405s(net: Net, who: str) -> None:
    """A method the path does not take: 405, and nothing changes."""
    ident = net.networks["a"].id
    before = (net.ok("/networks", "admin"), net.ok("/subnets", "admin"))
    for method, path in WRITES:
        resp = net.call(method, path.format(a=ident, p=ident), who,
                        json={"port": {"name": "x"}, "network": {"name": "x"}})
        error(resp, 405, "HTTPMethodNotAllowed")
    assert (net.ok("/networks", "admin"), net.ok("/subnets", "admin")) == before


def test_unknown_paths_are_neutron_404s(net: Net) -> None:
    for path in ("/trunks", "/qos/policies", "/networks/x/y", "/security-groups/x/y"):
        error(net.call("GET", path), 404, "HTTPNotFound")


def test_the_catalog_entry_comes_and_goes(net: Net) -> None:
    """`[network] api_in_catalog`: listed when on; withdrawn when off, leaving another
    network service's endpoints alone."""
    identity = net.cloud.identity
    ensure_catalog(identity, "http://cloud:5000", (NETWORK,))
    (row,) = identity.catalog.list_services(type="network")
    assert row.name == "neutron"
    assert {e.url for e in identity.catalog.list_endpoints(service_id=row.id)} == {
        "http://cloud:5000/network"}
    withdraw_from_catalog(identity, NETWORK)
    assert identity.catalog.list_services(type="network") == []
    withdraw_from_catalog(identity, NETWORK)  # nothing left to withdraw
    theirs = identity.catalog.create_service({"type": "network", "name": "neutron"})
    identity.catalog.create_endpoint({"service_id": theirs.id, "interface": "public",
                                      "url": "http://neutron:9696", "region_id": "RegionOne"})
    withdraw_from_catalog(identity, NETWORK)
    assert [s.id for s in identity.catalog.list_services(type="network")] == [theirs.id]


def test_without_compute_floating_ips_are_read_only(net: Net) -> None:
    """A network API built with no compute side (none to associate through) lists
    floating IPs and changes none: 503, never a half-made change."""
    assert net.ok("/floatingips") == {"floatingips": []}
    made = net.call("POST", "/floatingips", json={"floatingip": {
        "floating_network_id": net.external_id()}})
    error(made, 503, "HTTPServiceUnavailable")
    assert net.ok("/floatingips") == {"floatingips": []}


def test_without_compute_security_groups_are_read_only(net: Net) -> None:
    """No compute side (none to say which servers use a group, none to tell the hosts):
    groups and rules are listed, never changed."""
    (default,) = net.ok("/security-groups")["security_groups"]
    assert default["name"] == "default"
    for method, path, body in (
            ("POST", "/security-groups", {"security_group": {"name": "web"}}),
            ("PUT", f"/security-groups/{default['id']}", {"security_group": {
                "description": "x"}}),
            ("DELETE", f"/security-groups/{default['id']}", None),
            ("POST", "/security-group-rules", {"security_group_rule": {
                "security_group_id": default["id"], "direction": "ingress"}}),
            ("DELETE", f"/security-group-rules/{default['security_group_rules'][0]['id']}",
             None)):
        error(net.call(method, path, json=body), 503, "HTTPServiceUnavailable")
    assert net.ok("/security-groups")["security_groups"] == [default]
