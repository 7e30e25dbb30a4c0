"""Every compute quota holds under concurrent creates: N requests at once against room
for fewer end exactly at the quota (on SQLite and MariaDB)."""

from __future__ import annotations

import concurrent.futures
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from labs.compute.api.server_actions import MAX_TAGS
from labs.identity.resources import ProjectFilter
from tests.compute.conftest import Plane
from tests.compute.test_api_resources import ssh_key

ATTEMPTS = 12
ROOM = 4


def race(attempt: Callable[[int], httpx.Response]) -> Counter[int]:
    """``ATTEMPTS`` calls at once; how many got each status."""
    with concurrent.futures.ThreadPoolExecutor(ATTEMPTS) as pool:
        replies = list(pool.map(attempt, range(ATTEMPTS)))
    for reply in replies:
        assert reply.status_code < 500, reply.text
    return Counter(r.status_code for r in replies)


def set_quota(plane: Plane, **limits: int) -> None:
    project = plane.cloud.identity.resources.list_projects(ProjectFilter(name="a"))[0].id
    plane.ok("PUT", f"/os-quota-sets/{project}", "admin", json={"quota_set": limits})


def servers_of_a(plane: Plane) -> list[dict[str, Any]]:
    return list(plane.ok("GET", "/servers/detail?limit=1000")["servers"])


def create_server(plane: Plane, flavor: str = "6", **extra: Any) -> Callable[[int], httpx.Response]:
    def attempt(i: int) -> httpx.Response:
        body: dict[str, Any] = {"server": {"name": f"race-{i}", "imageRef": plane.image_id,
                                           "flavorRef": flavor, "networks": "none"}}
        body.update(extra)
        return plane.call("POST", "/servers", json=body)
    return attempt


def test_instances(plane: Plane) -> None:
    set_quota(plane, instances=ROOM)
    assert race(create_server(plane)) == {202: ROOM, 403: ATTEMPTS - ROOM}
    assert len(servers_of_a(plane)) == ROOM


def test_cores(plane: Plane) -> None:
    set_quota(plane, cores=2 * ROOM)
    assert race(create_server(plane, flavor="3")) == {202: ROOM, 403: ATTEMPTS - ROOM}
    assert plane.ok("GET", "/limits")["limits"]["absolute"]["totalCoresUsed"] == 2 * ROOM


def test_ram(plane: Plane) -> None:
    set_quota(plane, ram=128 * ROOM)
    assert race(create_server(plane)) == {202: ROOM, 403: ATTEMPTS - ROOM}
    assert plane.ok("GET", "/limits")["limits"]["absolute"]["totalRAMUsed"] == 128 * ROOM


def test_server_group_members(plane: Plane) -> None:
    set_quota(plane, server_group_members=ROOM)
    group = plane.ok("POST", "/os-server-groups", json={"server_group": {
        "name": "g", "policy": "soft-affinity"}})["server_group"]["id"]
    attempt = create_server(plane, **{"os:scheduler_hints": {"group": group}})
    assert race(attempt) == {202: ROOM, 403: ATTEMPTS - ROOM}
    members = plane.ok("GET", f"/os-server-groups/{group}")["server_group"]["members"]
    assert len(members) == ROOM


def test_server_groups(plane: Plane) -> None:
    set_quota(plane, server_groups=ROOM)

    def attempt(i: int) -> httpx.Response:
        return plane.call("POST", "/os-server-groups", json={"server_group": {
            "name": f"g{i}", "policy": "anti-affinity"}})

    assert race(attempt) == {200: ROOM, 403: ATTEMPTS - ROOM}
    assert len(plane.ok("GET", "/os-server-groups")["server_groups"]) == ROOM


def test_key_pairs(plane: Plane) -> None:
    set_quota(plane, key_pairs=ROOM)
    keys = [ssh_key()[0] for _ in range(ATTEMPTS)]

    def attempt(i: int) -> httpx.Response:
        return plane.call("POST", "/os-keypairs", json={"keypair": {
            "name": f"k{i}", "public_key": keys[i]}})

    assert race(attempt) == {201: ROOM, 403: ATTEMPTS - ROOM}
    assert len(plane.ok("GET", "/os-keypairs")["keypairs"]) == ROOM


def test_metadata_items(plane: Plane) -> None:
    set_quota(plane, metadata_items=ROOM)
    server = plane.create()

    def attempt(i: int) -> httpx.Response:
        return plane.call("POST", f"/servers/{server['id']}/metadata",
                          json={"metadata": {f"k{i}": "v"}})

    assert race(attempt) == {200: ROOM, 403: ATTEMPTS - ROOM}
    assert len(plane.ok("GET", f"/servers/{server['id']}/metadata")["metadata"]) == ROOM


def test_tags_per_server(plane: Plane) -> None:
    server = plane.create()
    plane.ok("PUT", f"/servers/{server['id']}/tags",
             json={"tags": [f"t{i}" for i in range(MAX_TAGS - ROOM)]})

    def attempt(i: int) -> httpx.Response:
        return plane.call("PUT", f"/servers/{server['id']}/tags/race{i}")

    assert race(attempt) == {201: ROOM, 400: ATTEMPTS - ROOM}
    assert len(plane.ok("GET", f"/servers/{server['id']}/tags")["tags"]) == MAX_TAGS
