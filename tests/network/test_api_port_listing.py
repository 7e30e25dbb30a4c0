"""``GET /v2.0/ports`` over hundreds of ports: sorted (``sort_key``/``sort_dir``, then by
id) and paged (``limit``/``marker``/``page_reverse``, ``ports_links``) in the database,
the same pages Neutron gives; bad sort keys and markers refused with Neutron's errors."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.network.api_helpers import Net, error, net_fixture  # noqa: F401

COUNT = 240
NAMES = ("db", "web", "cache", "")


def many_ports(net: Net) -> list[dict[str, Any]]:
    """`COUNT` ports of project a on a /23 of its own, names and owners repeating."""
    made = net.call("POST", "/networks", json={"network": {"name": "big"}}).json()["network"]
    assert net.call("POST", "/subnets", json={"subnet": {
        "network_id": made["id"], "cidr": "10.9.0.0/23"}}).status_code == 201
    record = net.service.networks.record(made["id"])
    assert record is not None
    changes = net.service.port_changes
    for i in range(COUNT):
        changes.create(record, net.projects["a"], {
            "name": NAMES[i % len(NAMES)], "device_owner": f"owner:{i % 3}",
            "admin_state_up": i % 5 != 0})
    ports: list[dict[str, Any]] = net.ok("/ports", network_id=made["id"])["ports"]
    assert len(ports) == COUNT
    return ports


def expected(ports: list[dict[str, Any]], *sorts: tuple[str, bool]) -> list[str]:
    ordered = sorted(ports, key=lambda p: p["id"])
    for key, ascending in reversed(sorts):
        ordered.sort(key=lambda p: p[key], reverse=not ascending)
    return [p["id"] for p in ordered]


def walk(net: Net, params: list[tuple[str, str]], rel: str = "next") -> list[list[str]]:
    """The pages following `rel` links from the first (bounded)."""
    pages: list[list[str]] = []
    query: list[tuple[str, str]] | None = params
    for _ in range(COUNT + 2):
        if query is None:
            return pages
        resp = net.call("GET", "/ports", params=query)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        pages.append([p["id"] for p in body["ports"]])
        link = next((x["href"] for x in body.get("ports_links", []) if x["rel"] == rel), None)
        query = parse_qsl(urlsplit(link).query) if link else None
    raise AssertionError("the links never end")


def test_sorted_and_paged_in_the_database(net: Net) -> None:
    ports = many_ports(net)
    network = [("network_id", ports[0]["network_id"])]
    assert [p["id"] for p in ports] == expected(ports)  # by id without a sort
    sorts = [("name", True), ("device_owner", False), ("admin_state_up", True)]
    asked = [*network, *[(k, v) for key, up in sorts
                         for k, v in (("sort_key", key), ("sort_dir", "asc" if up else "desc"))]]
    whole = expected(ports, *sorts)
    shown = net.ok("/ports", **{k: [v for kk, v in asked if kk == k]
                                for k in dict(asked)})["ports"]
    assert [p["id"] for p in shown] == whole

    pages = walk(net, [*asked, ("limit", "37")])
    assert [len(p) for p in pages] == [37] * (COUNT // 37) + [COUNT % 37]
    assert [i for page in pages for i in page] == whole

    # backwards from the last page's first port: the ports before it, 37 at a time
    back = walk(net, [*asked, ("limit", "37"), ("marker", pages[-1][0]),
                      ("page_reverse", "True")], rel="previous")
    assert [i for page in reversed(back) for i in page] == whole[:whole.index(pages[-1][0])]
    last = net.ok("/ports", **dict(network), limit=5, page_reverse="True")["ports"]
    assert [p["id"] for p in last] == expected(ports)[-5:]

    # a filter with paging, by MAC (descending)
    owned = [p for p in ports if p["device_owner"] == "owner:1"]
    pages = walk(net, [*network, ("device_owner", "owner:1"), ("sort_key", "mac_address"),
                       ("sort_dir", "desc"), ("limit", "25")])
    assert [i for page in pages for i in page] == expected(owned, ("mac_address", False))
    # by creation (to the microsecond: the shown seconds do not decrease)
    pages = walk(net, [*network, ("sort_key", "created_at"), ("sort_dir", "asc"),
                       ("limit", "50")])
    made = [i for page in pages for i in page]
    assert sorted(made) == sorted(whole)
    shown_at = {p["id"]: p["created_at"] for p in ports}
    assert [shown_at[i] for i in made] == sorted(shown_at[i] for i in made)
    # a marker without a limit is ignored, as Neutron does
    assert len(net.ok("/ports", **dict(network), marker=whole[3])["ports"]) == COUNT


def test_bad_sorts_and_markers(net: Net) -> None:
    many = net.ok("/ports")["ports"]
    for params in ({"sort_key": "fixed_ips", "sort_dir": "asc"},
                   {"sort_key": "nonsense", "sort_dir": "asc"},
                   {"sort_key": "name"}, {"sort_key": "name", "sort_dir": "up"}):
        error(net.call("GET", "/ports", params=params), 400, "HTTPBadRequest")
    error(net.call("GET", "/ports", params={"limit": "2", "marker": "no-such-port"}), 404,
          "PortNotFound")
    error(net.call("GET", "/ports", params={"limit": "-1"}), 400, "BadRequest")
    theirs = net.call("POST", "/ports", "bob", json={"port": {
        "network_id": net.networks["b"].id}})
    assert theirs.status_code == 201, theirs.text
    error(net.call("GET", "/ports", params={"limit": "2", "marker": theirs.json()[
        "port"]["id"]}), 404, "PortNotFound")  # another project's port is no marker
    assert net.ok("/ports") == {"ports": many}
