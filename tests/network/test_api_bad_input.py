"""Bad query values and ids on the network API: Neutron's 400s and 404s, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.network.api_helpers import Net, error, net_fixture  # noqa: F401

BAD_LISTS: list[tuple[dict[str, Any], str, str]] = [
    ({"limit": "abc"}, "BadRequest", "Limit must be an integer 0 or greater"),
    ({"limit": "-1"}, "BadRequest", "Limit must be an integer 0 or greater"),
    ({"limit": "1.5"}, "BadRequest", "Limit must be an integer 0 or greater"),
    ({"limit": "9" * 40}, "BadRequest", "Limit must be an integer 0 or greater"),
    ({"limit": "\u0663"}, "BadRequest", "Limit must be an integer 0 or greater"),
    ({"sort_key": "name"}, "HTTPBadRequest", "sort_keys and sort_dirs must be same"),
    ({"sort_dir": "asc"}, "HTTPBadRequest", "sort_keys and sort_dirs must be same"),
    ({"sort_key": "nonesuch", "sort_dir": "asc"}, "HTTPBadRequest",
     "invalid attribute for sort_keys"),
    ({"sort_key": "subnets", "sort_dir": "asc"}, "HTTPBadRequest",
     "invalid attribute for sort_keys"),
    ({"sort_key": "name", "sort_dir": "up"}, "HTTPBadRequest", "invalid value for sort_dirs"),
    ({"nonesuch": "x"}, "HTTPBadRequest", "nonesuch is invalid attribute for filtering"),
    ({"tag": "x"}, "HTTPBadRequest", "tag is invalid attribute for filtering"),
    ({"shared": "maybe"}, "InvalidInput", "'maybe' cannot be converted to boolean"),
    ({"router:external": "2"}, "InvalidInput", "cannot be converted to boolean"),
    ({"mtu": "big"}, "InvalidInput", "'big' is not an integer"),
    ({"mtu": "1" * 30}, "InvalidInput", "is not an integer"),
    ({"revision_number": "\u0661"}, "InvalidInput", "is not an integer"),
]


@pytest.mark.parametrize("who", ["admin", "alice"])
def test_bad_list_queries_are_400s(net: Net, who: str) -> None:
    for params, kind, says in BAD_LISTS:
        for path in ("/networks", "/subnets"):
            if path == "/subnets" and {"router:external", "mtu", "shared"} & set(params):
                continue  # not attributes of subnets: refused as filters, below
            body = error(net.call("GET", path, who, params=params), 400, kind)
            assert says in body["message"], (path, params, body)


def test_subnet_filters_are_checked_too(net: Net) -> None:
    error(net.call("GET", "/subnets", params={"ip_version": "four"}), 400, "InvalidInput")
    for name in ("router:external", "mtu", "shared"):
        error(net.call("GET", "/subnets", params={name: "true"}), 400, "HTTPBadRequest")
    error(net.call("GET", "/subnets", params={"enable_dhcp": "yes please"}), 400,
          "InvalidInput")


MARKERS = ["nonesuch", "0" * 36, "00000000-0000-0000-0000-000000000000",
           "'; drop table network; --", "\u00e9", "x" * 5000]
IDS = ["nonesuch", "00000000-0000-0000-0000-000000000000", "%00", "%ff%fe", "x" * 5000, "1",
       "%20"]


def test_unknown_markers_are_not_found(net: Net) -> None:
    for marker in MARKERS:
        error(net.call("GET", "/networks", params={"limit": 2, "marker": marker}), 404,
              "NetworkNotFound")
        error(net.call("GET", "/subnets", params={"limit": 2, "marker": marker}), 404,
              "SubnetNotFound")


def test_unknown_ids_are_not_found(net: Net) -> None:
    for ident in IDS:
        error(net.call("GET", f"/networks/{ident}"), 404, "NetworkNotFound")
        error(net.call("GET", f"/subnets/{ident}"), 404, "SubnetNotFound")
        error(net.call("GET", f"/networks/{ident}", "admin", params={"fields": "id"}), 404,
              "NetworkNotFound")


def test_a_subnet_id_is_not_a_network_id(net: Net) -> None:
    mine = net.networks["a"].id
    subnet = net.ok(f"/networks/{mine}")["network"]["subnets"][0]
    error(net.call("GET", f"/networks/{subnet}"), 404, "NetworkNotFound")
    error(net.call("GET", f"/subnets/{mine}"), 404, "SubnetNotFound")


def test_repeated_and_odd_values_are_harmless(net: Net) -> None:
    assert net.ok("/networks", "admin", fields=["", "id"], name=["", ""])["networks"]
    assert net.ok("/networks", "admin", page_reverse="sideways")["networks"]
    assert net.ok("/networks", "admin", shared=" TRUE ")["networks"] == []
