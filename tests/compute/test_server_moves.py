"""Resize, confirmResize, revertResize and cold migrate through the API, on the fake
driver: the states and records Nova shows, the claims held on the way, who may, what
is refused, and the quota of a resize up under concurrent requests."""

from __future__ import annotations

import concurrent.futures
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from labs.compute import models
from tests.compute.conftest import Plane, make_plane
from tests.compute.test_quota_races import set_quota
from tests.conftest import Cloud
from tests.fuzzing import mariadb_only  # noqa: F401 -- one engine: MariaDB

TINY, SMALL, MEDIUM, NANO = "1", "2", "3", "6"


def action(plane: Plane, server_id: str, body: dict[str, Any], who: str = "alice",
           **kw: Any) -> Any:
    return plane.call("POST", f"/servers/{server_id}/action", who, json=body, **kw)


def host_of(plane: Plane, server_id: str) -> str:
    return str(plane.show(server_id, "admin")["OS-EXT-SRV-ATTR:host"])


def claims(plane: Plane, server_id: str) -> list[tuple[str, int, int]]:
    """The claims of the server and of its moves: (host, vcpus, memory), sorted."""
    A, M, N = models.Allocation, models.Migration, models.ComputeNode
    with plane.service.db.reading() as tx:
        owners = [server_id, *tx.scalars(sa.select(M.uuid).where(M.instance_id == server_id))]
        return sorted((h, v, m) for h, v, m in tx.execute(
            sa.select(N.host, A.vcpus, A.memory_mb).join(N, N.id == A.node_id)
            .where(A.instance_id.in_(owners))))


def migrations(plane: Plane, server_id: str) -> list[models.Migration]:
    with plane.service.db.reading() as tx:
        rows = list(tx.scalars(sa.select(models.Migration)
                               .where(models.Migration.instance_id == server_id)
                               .order_by(models.Migration.id)))
        for row in rows:
            tx.expunge(row)
        return rows


def wait_migration(plane: Plane, server_id: str, status: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if migrations(plane, server_id)[-1].status == status:
            return
        time.sleep(0.02)
    raise AssertionError(f"migration of {server_id} not {status}: "
                         f"{[m.status for m in migrations(plane, server_id)]}")


def test_resize_confirm(plane: Plane) -> None:
    server = plane.create(flavorRef=TINY)
    sid, source = server["id"], host_of(plane, server["id"])
    assert action(plane, sid, {"resize": {"flavorRef": SMALL}}).status_code == 202
    shown = plane.wait(sid, "VERIFY_RESIZE")
    assert shown["flavor"]["original_name"] == "m1.small"
    assert shown["OS-EXT-STS:vm_state"] == "resized"
    assert [s["id"] for s in plane.ok("GET", "/servers?status=VERIFY_RESIZE")["servers"]] == [
        sid]
    assert plane.ok("GET", "/servers?status=ACTIVE")["servers"] == []
    dest = host_of(plane, sid)
    move = migrations(plane, sid)[-1]
    assert (move.migration_type, move.status, move.source_compute, move.dest_compute,
            move.old_flavor_id, move.new_flavor_id) == ("resize", "finished", source, dest,
                                                        TINY, SMALL)
    # both flavors are held until the resize is confirmed
    assert claims(plane, sid) == sorted([(source, 1, 512), (dest, 1, 2048)])
    assert plane.ok("GET", "/limits")["limits"]["absolute"]["totalRAMUsed"] == 2048
    assert action(plane, sid, {"confirmResize": None}).status_code == 204
    shown = plane.wait(sid, "ACTIVE")
    wait_migration(plane, sid, "confirmed")
    assert claims(plane, sid) == [(dest, 1, 2048)]
    assert plane.agents[dest].driver.power_state(sid) == 1
    with pytest.raises(Exception, match="no instance"):
        plane.agents[source].driver.revert_migration(sid, True)
    events = [a["action"] for a in plane.ok("GET", f"/servers/{sid}/os-instance-actions")[
        "instanceActions"]]
    assert events[:3] == ["confirmResize", "resize", "create"]
    # confirmed: nothing left to confirm or revert
    assert action(plane, sid, {"confirmResize": None}).status_code == 409
    assert action(plane, sid, {"revertResize": None}).status_code == 409


def test_resize_revert_stopped(plane: Plane) -> None:
    sid = plane.create(flavorRef=TINY)["id"]
    source = host_of(plane, sid)
    assert action(plane, sid, {"os-stop": None}).status_code == 202
    plane.wait(sid, "SHUTOFF")
    assert action(plane, sid, {"resize": {"flavorRef": MEDIUM}}).status_code == 202
    plane.wait(sid, "VERIFY_RESIZE")
    dest = host_of(plane, sid)
    assert plane.agents[dest].driver.power_state(sid) == 4  # stays off
    assert action(plane, sid, {"revertResize": None}).status_code == 202
    shown = plane.wait(sid, "SHUTOFF")
    assert shown["flavor"]["original_name"] == "m1.tiny"
    assert host_of(plane, sid) == source
    wait_migration(plane, sid, "reverted")
    assert claims(plane, sid) == [(source, 1, 512)]
    assert plane.ok("GET", "/limits")["limits"]["absolute"]["totalCoresUsed"] == 1


def test_cold_migrate(plane: Plane) -> None:
    sid = plane.create(flavorRef=TINY)["id"]
    source = host_of(plane, sid)
    assert action(plane, sid, {"migrate": None}, "alice").status_code == 403  # admin only
    assert action(plane, sid, {"migrate": None}, "admin").status_code == 202
    shown = plane.wait(sid, "VERIFY_RESIZE")
    assert shown["flavor"]["original_name"] == "m1.tiny"
    dest = host_of(plane, sid)
    assert dest != source
    assert migrations(plane, sid)[-1].migration_type == "migration"
    # the owner may confirm (as Nova's policy)
    assert action(plane, sid, {"confirmResize": None}).status_code == 204
    plane.wait(sid, "ACTIVE")
    # to a named host (2.56)
    other = ({"h1", "h2", "h3"} - {dest}).pop()
    body = {"migrate": {"host": other}}
    assert action(plane, sid, body, "admin", version="2.55").status_code == 400
    assert action(plane, sid, body, "admin").status_code == 202
    plane.wait(sid, "VERIFY_RESIZE")
    assert host_of(plane, sid) == other
    assert action(plane, sid, {"revertResize": None}).status_code == 202
    plane.wait(sid, "ACTIVE")
    assert host_of(plane, sid) == dest
    bad = action(plane, sid, {"migrate": {"host": "nowhere"}}, "admin")
    assert bad.status_code == 400, bad.text
    # a deleted server in VERIFY_RESIZE leaves nothing on either host
    assert action(plane, sid, {"migrate": None}, "admin").status_code == 202
    plane.wait(sid, "VERIFY_RESIZE")
    assert plane.call("DELETE", f"/servers/{sid}").status_code == 204
    plane.wait_gone(sid)
    wait_migration(plane, sid, "confirmed")
    assert claims(plane, sid) == []


def test_protection_and_bad_input(plane: Plane) -> None:
    sid = plane.create(flavorRef=SMALL)["id"]
    resize = {"resize": {"flavorRef": MEDIUM}}
    assert action(plane, sid, resize, "bob").status_code == 404
    assert action(plane, sid, resize, "ann").status_code == 403
    assert action(plane, sid, {"confirmResize": None}, "bob").status_code == 404
    assert action(plane, sid, {"revertResize": None}, "ann").status_code == 403
    assert action(plane, sid, {"migrate": None}, "bob").status_code == 403
    for body, message in (
            ({"resize": {"flavorRef": SMALL}}, "must change flavor"),
            ({"resize": {"flavorRef": TINY}}, "resize disk down"),
            ({"resize": {"flavorRef": "nope"}}, "Unable to locate requested flavor"),
            ({"resize": {}}, ""), ({"resize": {"flavorRef": ""}}, ""),
            ({"resize": {"flavorRef": MEDIUM, "x": 1}}, ""),
            ({"migrate": {"host": 5}}, "")):
        reply = action(plane, sid, body)
        assert reply.status_code == 400, (body, reply.text)
        assert message in reply.json()["badRequest"]["message"]
    for value in (None, {}):  # Nova reads no value of confirmResize
        reply = action(plane, sid, {"confirmResize": value})
        assert reply.status_code == 409 and "vm_state active" in reply.text
    assert action(plane, sid, {"revertResize": None}).status_code == 409
    # nothing was half-written
    assert migrations(plane, sid) == []
    assert plane.wait(sid, "ACTIVE")["flavor"]["original_name"] == "m1.small"
    # locked: 409 for the owner
    assert action(plane, sid, {"lock": None}, "admin").status_code == 202
    assert action(plane, sid, resize).status_code == 409
    assert action(plane, sid, {"unlock": None}, "admin").status_code == 202
    # while it moves, another move is refused
    assert action(plane, sid, resize).status_code == 202
    assert action(plane, sid, resize).status_code == 409
    plane.wait(sid, "VERIFY_RESIZE")
    assert action(plane, sid, {"resize": {"flavorRef": "4"}}).status_code == 409


@pytest.fixture
def one_host(cloud: Cloud, tmp_path: Path) -> Iterator[Plane]:
    yield from make_plane(cloud, tmp_path, hosts=("solo",))


def test_single_host(one_host: Plane) -> None:
    """A resize may stay on its host (allow_resize_to_same_host); a cold migration may
    not."""
    plane = one_host
    sid = plane.create(flavorRef=TINY)["id"]
    reply = action(plane, sid, {"migrate": None}, "admin")
    assert reply.status_code == 400 and "No valid host" in reply.text
    assert migrations(plane, sid)[-1].status == "error"
    assert plane.wait(sid, "ACTIVE")["flavor"]["original_name"] == "m1.tiny"
    assert claims(plane, sid) == [("solo", 1, 512)]
    assert action(plane, sid, {"resize": {"flavorRef": SMALL}}).status_code == 202
    plane.wait(sid, "VERIFY_RESIZE")
    assert claims(plane, sid) == [("solo", 1, 512), ("solo", 1, 2048)]
    assert action(plane, sid, {"revertResize": None}).status_code == 202
    assert plane.wait(sid, "ACTIVE")["flavor"]["original_name"] == "m1.tiny"
    assert action(plane, sid, {"resize": {"flavorRef": SMALL}}).status_code == 202
    plane.wait(sid, "VERIFY_RESIZE")
    assert action(plane, sid, {"confirmResize": None}).status_code == 204
    plane.wait(sid, "ACTIVE")
    assert claims(plane, sid) == [("solo", 1, 2048)]
    assert plane.agents["solo"].driver.power_state(sid) == 1


def test_resize_up_quota_under_concurrency(plane: Plane) -> None:
    """Six servers of 1 vCPU, room for 3 more cores: of six resizes to 2 vCPUs at once,
    exactly three pass the quota."""
    ids = [plane.create(name=f"q{i}", flavorRef=TINY)["id"] for i in range(6)]
    set_quota(plane, cores=9)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(
            lambda sid: action(plane, sid, {"resize": {"flavorRef": MEDIUM}}), ids))
    assert Counter(r.status_code for r in replies) == {202: 3, 403: 3}
    assert all("Quota exceeded for cores" in r.text for r in replies if r.status_code == 403)
    moved = [sid for sid, r in zip(ids, replies, strict=True) if r.status_code == 202]
    for sid in moved:
        plane.wait(sid, "VERIFY_RESIZE")
    assert plane.ok("GET", "/limits")["limits"]["absolute"]["totalCoresUsed"] == 9
    for sid in moved:  # revert gives the cores back
        assert action(plane, sid, {"revertResize": None}).status_code == 202
    for sid in moved:
        plane.wait(sid, "ACTIVE")
    assert plane.ok("GET", "/limits")["limits"]["absolute"]["totalCoresUsed"] == 6
