"""Tags and revision numbers of networks and subnets (Neutron's ``standard-attr-tag`` and
``revision-if-match``): the tag routes' shapes and codes, the tag filters, who may tag,
bad tags and bad ``If-Match`` headers, and tags gone with their resource."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from labs.network import models
from tests.network.api_helpers import Net, error, net_fixture  # noqa: F401
from tests.network.test_api_network_writes import made


def tags_of(net: Net, path: str, who: str = "alice") -> list[str]:
    found: list[str] = net.ok(f"{path}/tags", who)["tags"]
    return found


def revision(net: Net, path: str) -> int:
    item: dict[str, Any] = next(iter(net.ok(path, "admin").values()))
    return int(item["revision_number"])


def stored_tags(net: Net) -> list[tuple[str, str, str]]:
    with net.service.db.reading() as tx:
        return [tuple(r) for r in tx.execute(sa.select(
            models.ResourceTag.resource_type, models.ResourceTag.resource_id,
            models.ResourceTag.tag))]


def test_tag_routes_shapes_and_codes(net: Net) -> None:
    mine = made(net, "network", {"name": "blue"})
    path = f"/networks/{mine['id']}"
    assert mine["tags"] == [] and tags_of(net, path) == []
    resp = net.call("PUT", f"{path}/tags", json={"tags": ["red", "blue"]})
    assert resp.status_code == 200 and resp.json() == {"tags": ["blue", "red"]}, resp.text
    assert net.ok(path)["network"]["tags"] == ["blue", "red"]
    assert revision(net, path) == 1
    resp = net.call("PUT", f"{path}/tags/green")
    assert resp.status_code == 201 and resp.content == b"", resp.text
    assert net.call("PUT", f"{path}/tags/green").status_code == 201  # already there
    assert tags_of(net, path) == ["blue", "green", "red"] and revision(net, path) == 2
    assert net.call("GET", f"{path}/tags/green").status_code == 204
    assert tags_of(net, path, "ann") == ["blue", "green", "red"]  # readers see them
    found = error(net.call("GET", f"{path}/tags/white"), 404, "TagNotFound")
    assert found["message"] == f"Tag white could not be found for network {mine['id']}."
    assert net.call("DELETE", f"{path}/tags/green").status_code == 204
    error(net.call("DELETE", f"{path}/tags/green"), 404, "TagNotFound")
    assert tags_of(net, path) == ["blue", "red"] and revision(net, path) == 3
    resp = net.call("PUT", f"{path}/tags", json={"tags": ["red"]})
    assert resp.json() == {"tags": ["red"]}
    assert net.call("DELETE", f"{path}/tags").status_code == 204
    assert tags_of(net, path) == [] and revision(net, path) == 5
    # a name change raises the revision as well; unicode and spaces are tags too
    net.call("PUT", path, json={"network": {"name": "b2"}})
    assert revision(net, path) == 6
    assert net.call("PUT", f"{path}/tags", json={"tags": ["é x", "x" * 255]}).status_code \
        == 200


def test_subnet_tags_and_tags_go_with_their_resource(net: Net) -> None:
    mine = made(net, "network", {"name": "blue"})
    sub = made(net, "subnet", {"network_id": mine["id"], "cidr": "192.168.9.0/24"})
    other = made(net, "subnet", {"network_id": made(net, "network", {})["id"],
                                 "cidr": "192.168.8.0/24"})
    for path in (f"/subnets/{sub['id']}", f"/subnets/{other['id']}",
                 f"/networks/{mine['id']}"):
        assert net.call("PUT", f"{path}/tags/t1").status_code == 201
    assert net.ok(f"/subnets/{sub['id']}")["subnet"]["tags"] == ["t1"]
    assert revision(net, f"/subnets/{sub['id']}") == 1
    assert [s["id"] for s in net.ok("/subnets", tags="t1")["subnets"]] == sorted(
        [sub["id"], other["id"]])
    assert net.call("DELETE", f"/subnets/{other['id']}").status_code == 204
    assert net.call("DELETE", f"/networks/{mine['id']}").status_code == 204
    assert stored_tags(net) == []


def test_tag_filters(net: Net) -> None:
    ids = {}
    for name, tags in (("n1", ["red"]), ("n2", ["red", "blue"]), ("n3", ["blue"]),
                       ("n4", [])):
        ids[name] = made(net, "network", {"name": name})["id"]
        net.call("PUT", f"/networks/{ids[name]}/tags", json={"tags": tags})

    def names(**query: str) -> list[str]:
        return sorted(n["name"] for n in net.ok("/networks", **query)["networks"]
                      if n["name"] in ids)

    assert names(tags="red") == ["n1", "n2"]
    assert names(tags="red,blue") == ["n2"]
    assert names(**{"tags-any": "red,blue"}) == ["n1", "n2", "n3"]
    assert names(**{"not-tags": "red,blue"}) == ["n1", "n3", "n4"]
    assert names(**{"not-tags-any": "red,blue"}) == ["n4"]
    assert names(**{"not-tags-any": "red", "tags": "blue"}) == ["n3"]
    assert names(tags="green") == []
    assert sorted(n["name"] for n in net.ok("/networks", "bob", tags="red")["networks"]) \
        == []  # another project's tagged networks stay unseen


def test_who_may_tag(net: Net) -> None:
    mine = made(net, "network", {"name": "blue"})
    path = f"/networks/{mine['id']}"
    for method, tail in (("PUT", "/tags/x"), ("DELETE", "/tags"), ("DELETE", "/tags/x")):
        error(net.call(method, f"{path}{tail}", "ann"), 403, "PolicyNotAuthorized")
    error(net.call("PUT", f"{path}/tags", "ann", json={"tags": ["x"]}), 403,
          "PolicyNotAuthorized")
    for method, tail in (("GET", "/tags"), ("GET", "/tags/x"), ("PUT", "/tags/x"),
                         ("DELETE", "/tags")):
        error(net.call(method, f"{path}{tail}", "bob"), 404, "NetworkNotFound")
    sub = made(net, "subnet", {"network_id": mine["id"], "cidr": "192.168.9.0/24"})
    error(net.call("PUT", f"/subnets/{sub['id']}/tags/x", "bob"), 404, "SubnetNotFound")
    error(net.call("PUT", f"/subnets/{sub['id']}/tags/x", "ann"), 403,
          "PolicyNotAuthorized")
    # the external network is seen by all and changed by none (as its updates)
    external = f"/networks/{net.external_id()}"
    error(net.call("PUT", f"{external}/tags/x"), 403, "PolicyNotAuthorized")
    assert net.call("PUT", f"{path}/tags/by-admin", "admin").status_code == 201
    assert net.call("PUT", f"{path}/tags/by-amy", "amy").status_code == 201
    assert tags_of(net, path) == ["by-admin", "by-amy"]
    error(net.call("GET", "/networks/nope/tags"), 404, "NetworkNotFound")
    assert net.call("GET", f"{path}/tags", None).status_code == 401


@pytest.mark.parametrize("body", [
    {"tags": ["a,b"]}, {"tags": ["x" * 256]}, {"tags": [""]}, {"tags": "red"},
    {"tags": [1]}, {"tags": ["a", "a"]}, {"tags": [f"t{i}" for i in range(51)]},
    {}, {"tags": ["a"], "more": 1}, [], None])
def test_bad_tag_bodies(net: Net, body: Any) -> None:
    mine = made(net, "network", {"name": "blue"})
    resp = net.call("PUT", f"/networks/{mine['id']}/tags", json=body)
    assert resp.status_code == 400, resp.text
    assert set(resp.json()) == {"NeutronError"}
    assert tags_of(net, f"/networks/{mine['id']}") == []


def test_bad_single_tags(net: Net) -> None:
    path = f"/networks/{made(net, 'network', {'name': 'blue'})['id']}"
    for tag in ("a%2Cb", "x" * 256):
        for method in ("PUT", "GET", "DELETE"):
            error(net.call(method, f"{path}/tags/{tag}"), 400, "InvalidInput")
    for i in range(50):
        assert net.call("PUT", f"{path}/tags/t{i:02}").status_code == 201
    error(net.call("PUT", f"{path}/tags/one-more"), 400, "InvalidInput")
    assert len(tags_of(net, path)) == 50


def test_if_match(net: Net) -> None:
    mine = made(net, "network", {"name": "blue"})
    path = f"/networks/{mine['id']}"
    sub = made(net, "subnet", {"network_id": mine["id"], "cidr": "192.168.9.0/24"})

    def put(where: str, kind: str, match: str, **body: Any) -> Any:
        return net.call("PUT", where, json={kind: body}, headers={"If-Match": match})

    found = error(put(path, "network", "revision_number=3", name="x"), 412,
                  "RevisionNumberConstraintFailed")
    assert found["message"] == "Constrained to 3, but current revision is 0"
    assert put(path, "network", "revision_number=0", name="x").status_code == 200
    assert put(path, "network", '"revision_number=1"', name="y").status_code == 200
    assert put(path, "network", "W/\"abc\"", name="z").status_code == 200  # not Neutron's
    error(put(f"/subnets/{sub['id']}", "subnet", "revision_number=1", name="s"), 412,
          "RevisionNumberConstraintFailed")
    assert put(f"/subnets/{sub['id']}", "subnet", "revision_number=0", name="s"
               ).status_code == 200
    error(net.call("PUT", f"{path}/tags/a", headers={"If-Match": "revision_number=0"}),
          412, "RevisionNumberConstraintFailed")
    assert net.call("PUT", f"{path}/tags/a", headers={"If-Match": "revision_number=3"}
                    ).status_code == 201
    for bad in ("revision_number=x", "revision_number=", "revision_number=-1",
                "revision_number=1, revision_number=2", "revision_number=" + "9" * 30):
        error(put(path, "network", bad, name="q"), 400, "HTTPBadRequest")
        error(net.call("DELETE", path, headers={"If-Match": bad}), 400, "HTTPBadRequest")
    error(net.call("DELETE", f"/subnets/{sub['id']}",
                   headers={"If-Match": "revision_number=0"}), 412,
          "RevisionNumberConstraintFailed")
    assert net.call("DELETE", f"/subnets/{sub['id']}",
                    headers={"If-Match": "revision_number=1"}).status_code == 204
    error(net.call("DELETE", path, headers={"If-Match": "revision_number=1"}), 412,
          "RevisionNumberConstraintFailed")
    assert net.ok(path)["network"]["name"] == "z"
    assert net.call("DELETE", path, headers={"If-Match": "revision_number=4"}
                    ).status_code == 204
    assert stored_tags(net) == []
