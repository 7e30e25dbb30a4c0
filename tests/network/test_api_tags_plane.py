"""Tags and revision numbers of floating IPs and security groups, over the rows
compute's ``os-floating-ips`` and ``os-security-groups`` show: tags go when compute's
proxy releases or deletes them, association raises a floating IP's revision, and
``If-Match`` holds for their changes too."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from labs.network import models
from tests.compute.conftest import Plane
from tests.network.api_helpers import error
from tests.network.test_api_floatingips import PROXY, neutron, ok, port_of, public_id


def stored_tags(plane: Plane) -> list[tuple[str, str]]:
    with plane.service.db.reading() as tx:
        return sorted((r, t) for r, t in tx.execute(sa.select(
            models.ResourceTag.resource_type, models.ResourceTag.tag)))


def floating(plane: Plane, who: str = "alice") -> dict[str, Any]:
    found: dict[str, Any] = ok(plane, "POST", "/floatingips", who, json={"floatingip": {
        "floating_network_id": public_id(plane)}})["floatingip"]
    return found


def matched(plane: Plane, method: str, path: str, match: str, json: Any = None) -> Any:
    """A change as alice, with ``If-Match: <match>``."""
    return plane.client.request(method, f"/network/v2.0{path}", json=json, headers={
        "X-Auth-Token": plane.token("alice"), "If-Match": match})


def test_floating_ip_tags_and_revisions(plane: Plane) -> None:
    port = port_of(plane, plane.create(networks="auto")["id"])
    fip = floating(plane)
    path = f"/floatingips/{fip['id']}"
    assert ok(plane, "PUT", f"{path}/tags", json={"tags": ["web"]}) == {"tags": ["web"]}
    shown = ok(plane, "GET", path)["floatingip"]
    assert (shown["tags"], shown["revision_number"]) == (["web"], 1)
    assert [f["id"] for f in ok(plane, "GET", "/floatingips", params={
        "tags": "web"})["floatingips"]] == [fip["id"]]
    to_port = {"floatingip": {"port_id": port["id"]}}
    error(matched(plane, "PUT", path, "revision_number=0", to_port), 412,
          "RevisionNumberConstraintFailed")
    error(matched(plane, "PUT", path, "revision_number=1.0", to_port), 400,
          "HTTPBadRequest")
    moved = matched(plane, "PUT", path, "revision_number=1", to_port)
    assert moved.status_code == 200, moved.text
    assert moved.json()["floatingip"]["revision_number"] == 2
    assert moved.json()["floatingip"]["tags"] == ["web"]
    gone = ok(plane, "PUT", path, json={"floatingip": {"port_id": None}})["floatingip"]
    assert gone["revision_number"] == 3
    # another project's: 404; a reader: 403; an admin may
    error(neutron(plane, "PUT", f"{path}/tags/x", "bob"), 404, "FloatingIPNotFound")
    error(neutron(plane, "GET", f"{path}/tags", "bob"), 404, "FloatingIPNotFound")
    error(neutron(plane, "PUT", f"{path}/tags/x", "ann"), 403, "PolicyNotAuthorized")
    assert ok(plane, "GET", f"{path}/tags", "ann") == {"tags": ["web"]}
    assert neutron(plane, "PUT", f"{path}/tags/ops", "admin").status_code == 201
    assert stored_tags(plane) == [("floatingips", "ops"), ("floatingips", "web")]
    # released through compute's proxy: its tags go with it
    (legacy,) = plane.ok("GET", "/os-floating-ips", version=PROXY)["floating_ips"]
    assert plane.call("DELETE", f"/os-floating-ips/{legacy['id']}",
                      version=PROXY).status_code == 202
    assert stored_tags(plane) == []
    again = floating(plane)  # the same address again: a new floating IP, untagged
    assert (again["tags"], again["revision_number"]) == ([], 0)
    other = floating(plane)
    assert neutron(plane, "PUT", f"/floatingips/{other['id']}/tags/t").status_code == 201
    error(matched(plane, "DELETE", f"/floatingips/{other['id']}", "revision_number=0"),
          412, "RevisionNumberConstraintFailed")
    assert neutron(plane, "DELETE", f"/floatingips/{other['id']}").status_code == 204
    assert stored_tags(plane) == []


def test_security_group_tags_and_revisions(plane: Plane) -> None:
    group = ok(plane, "POST", "/security-groups", json={"security_group": {
        "name": "web"}})["security_group"]
    path = f"/security-groups/{group['id']}"
    start = group["revision_number"]  # its egress rules were added to it
    assert group["tags"] == []
    assert neutron(plane, "PUT", f"{path}/tags/blue").status_code == 201
    assert neutron(plane, "GET", f"{path}/tags/blue").status_code == 204
    error(neutron(plane, "GET", f"{path}/tags/red"), 404, "TagNotFound")
    shown = ok(plane, "GET", path)["security_group"]
    assert (shown["tags"], shown["revision_number"]) == (["blue"], start + 1)
    assert [g["name"] for g in ok(plane, "GET", "/security-groups", params={
        "tags-any": "blue,red"})["security_groups"]] == ["web"]
    assert "web" not in [g["name"] for g in ok(plane, "GET", "/security-groups", params={
        "not-tags": "blue"})["security_groups"]]

    def put(match: str) -> Any:
        return matched(plane, "PUT", path, match, {"security_group": {"description": "d"}})

    error(put(f"revision_number={start}"), 412, "RevisionNumberConstraintFailed")
    error(put("revision_number=one"), 400, "HTTPBadRequest")
    changed = put(f"revision_number={start + 1}")
    assert changed.status_code == 200, changed.text
    assert changed.json()["security_group"]["tags"] == ["blue"]
    assert changed.json()["security_group"]["revision_number"] == start + 2
    error(matched(plane, "DELETE", path, f"revision_number={start}"), 412,
          "RevisionNumberConstraintFailed")
    error(neutron(plane, "PUT", f"{path}/tags/x", "bob"), 404, "SecurityGroupNotFound")
    error(neutron(plane, "PUT", f"{path}/tags/x", "ann"), 403, "PolicyNotAuthorized")
    error(neutron(plane, "PUT", f"{path}/tags", json={"tags": ["a,b"]}), 400,
          "HTTPBadRequest")
    assert neutron(plane, "DELETE", f"{path}/tags/blue", "admin").status_code == 204
    assert neutron(plane, "PUT", f"{path}/tags/green").status_code == 201
    # deleted through compute's proxy: its tags go with it
    assert plane.call("DELETE", f"/os-security-groups/{group['id']}",
                      version=PROXY).status_code == 202
    assert stored_tags(plane) == []
    again = ok(plane, "POST", "/security-groups", json={"security_group": {
        "name": "db"}})["security_group"]
    assert neutron(plane, "PUT", f"/security-groups/{again['id']}/tags/t").status_code \
        == 201
    assert neutron(plane, "DELETE", f"/security-groups/{again['id']}").status_code == 204
    assert stored_tags(plane) == []
