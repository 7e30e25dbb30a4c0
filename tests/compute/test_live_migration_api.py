"""os-migrateLive and os-migrations over the whole control plane with fake agents: who may,
what is refused, and what a move changes (host, allocation, migration record, actions)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa

from labs.compute import models
from labs.compute.virt.base import PowerState, VirtError
from tests.compute.conftest import Plane
from tests.fuzzing import mariadb_only  # noqa: F401 -- one engine: MariaDB

MOVE = {"os-migrateLive": {"host": None, "block_migration": "auto"}}


def migrate(plane: Plane, server_id: str, body: dict[str, Any] | None = None,
            who: str = "admin", version: str = "2.100") -> Any:
    return plane.call("POST", f"/servers/{server_id}/action", who,
                      json=body or MOVE, version=version)


def allocation_host(plane: Plane, server_id: str) -> str:
    with plane.service.db.reading() as tx:
        return str(tx.scalar(sa.select(models.ComputeNode.host).join(
            models.Allocation, models.Allocation.node_id == models.ComputeNode.id)
            .where(models.Allocation.instance_id == server_id)))


def wait_migrated(plane: Plane, server_id: str, source: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        shown = plane.show(server_id, "admin")
        if shown["OS-EXT-SRV-ATTR:host"] != source and shown["OS-EXT-STS:task_state"] is None:
            return shown
        time.sleep(0.02)
    raise AssertionError(f"{server_id} still on {source}: {shown}")


def test_live_migration_moves_server_allocation_and_records_it(plane: Plane) -> None:
    server = plane.create()
    source = plane.show(server["id"], "admin")["OS-EXT-SRV-ATTR:host"]
    target = next(host for host in sorted(plane.agents) if host != source)
    resp = migrate(plane, server["id"], {"os-migrateLive": {
        "host": target, "block_migration": "auto"}})
    assert resp.status_code == 202, resp.text
    shown = wait_migrated(plane, server["id"], source)
    assert shown["OS-EXT-SRV-ATTR:host"] == target and shown["status"] == "ACTIVE"
    assert allocation_host(plane, server["id"]) == target
    with plane.service.db.reading() as tx:
        count = tx.scalar(sa.select(sa.func.count()).select_from(models.Allocation))
    assert count == 1  # the migration's claim became the server's
    driver = plane.agents[target].driver
    assert server["id"] in {info.id for info in driver.list_instances()}
    assert server["id"] not in {i.id for i in plane.agents[source].driver.list_instances()}
    actions = plane.ok("GET", f"/servers/{server['id']}/os-instance-actions",
                       "admin")["instanceActions"]
    assert actions[0]["action"] == "live-migration"
    # no host named: the scheduler picks another one, never a disabled one
    services = plane.ok("GET", "/os-services?binary=nova-compute", "admin")
    left = [h for h in plane.agents if h not in (source, target)]
    for svc in services["services"]:
        if svc["host"] == source:
            plane.ok("PUT", f"/os-services/{svc['id']}", "admin", json={"status": "disabled"})
    assert migrate(plane, server["id"]).status_code == 202
    shown = wait_migrated(plane, server["id"], target)
    assert shown["OS-EXT-SRV-ATTR:host"] in left


def test_live_migration_is_for_admins(plane: Plane) -> None:
    server = plane.create()
    for who in ("alice", "ann", "bob"):
        resp = migrate(plane, server["id"], who=who)
        assert resp.status_code in (403, 404), (who, resp.text)
        assert resp.status_code == 403 or who == "bob"
    assert plane.show(server["id"])["OS-EXT-STS:task_state"] is None


def test_live_migration_bad_input_and_conflicts(plane: Plane) -> None:
    server = plane.create()
    source = plane.show(server["id"], "admin")["OS-EXT-SRV-ATTR:host"]
    bad = [
        ({"host": "no-such-host", "block_migration": "auto"}, "2.100"),
        ({"host": source, "block_migration": "auto"}, "2.100"),
        ({"host": None, "block_migration": "maybe"}, "2.100"),
        ({"host": None, "block_migration": "auto"}, "2.24"),
        ({"host": None, "block_migration": False}, "2.24"),  # disk_over_commit needed
        ({"host": None, "block_migration": False, "disk_over_commit": False}, "2.25"),
        ({"host": None, "block_migration": "auto", "force": True}, "2.68"),
        ({"host": None, "block_migration": "auto", "force": True}, "2.29"),
        ({"host": None, "block_migration": "auto", "extra": 1}, "2.100"),
        ({"host": None}, "2.100"),
        ({"host": 5, "block_migration": "auto"}, "2.100"),
    ]
    for args, version in bad:
        resp = migrate(plane, server["id"], {"os-migrateLive": args}, version=version)
        assert resp.status_code == 400, (args, version, resp.text)
        assert resp.json()["badRequest"]["code"] == 400
    assert plane.show(server["id"], "admin")["OS-EXT-STS:task_state"] is None
    ok = migrate(plane, server["id"], {"os-migrateLive": {
        "host": None, "block_migration": True, "disk_over_commit": False}}, version="2.1")
    assert ok.status_code == 202, ok.text
    wait_migrated(plane, server["id"], source)
    plane.ok("POST", f"/servers/{server['id']}/action", json={"os-stop": None})
    plane.wait(server["id"], "SHUTOFF")
    resp = migrate(plane, server["id"])
    assert resp.status_code == 409 and "conflictingRequest" in resp.json()
    assert migrate(plane, "no-such-server").status_code == 404


def test_os_migrations_and_a_servers_moves_under_way(plane: Plane) -> None:
    server = plane.create()
    source = plane.show(server["id"], "admin")["OS-EXT-SRV-ATTR:host"]
    for agent in plane.agents.values():
        agent.driver.migrate_seconds = 1.5  # type: ignore[attr-defined]
    assert migrate(plane, server["id"]).status_code == 202
    path = f"/servers/{server['id']}/migrations"
    deadline = time.monotonic() + 10
    under_way: list[Any] = []
    while not under_way and time.monotonic() < deadline:
        under_way = plane.ok("GET", path, "admin")["migrations"]
        time.sleep(0.02)
    assert len(under_way) == 1, under_way
    moving = plane.ok("GET", "/servers?status=MIGRATING&all_tenants=1", "admin")["servers"]
    assert [s["id"] for s in moving] == [server["id"]]
    assert plane.show(server["id"])["status"] == "MIGRATING"
    one = under_way[0]
    assert one["server_uuid"] == server["id"] and one["source_compute"] == source
    assert one["status"] in ("queued", "preparing", "running")
    assert {"memory_total_bytes", "disk_processed_bytes", "uuid", "user_id",
            "project_id"} <= set(one)
    shown = plane.ok("GET", f"{path}/{one['id']}", "admin")["migration"]
    assert shown["id"] == one["id"]
    listed = plane.ok("GET", "/os-migrations", "admin")["migrations"]
    assert listed[0]["links"][0]["href"].endswith(f"{path}/{one['id']}")
    # protection: admins only, and the 2.23 routes need 2.23
    for who in ("alice", "ann", "bob"):
        assert plane.call("GET", "/os-migrations", who).status_code == 403
        assert plane.call("GET", path, who).status_code == 403
    assert plane.call("GET", path, "admin", version="2.22").status_code == 404
    wait_migrated(plane, server["id"], source)
    assert plane.ok("GET", path, "admin")["migrations"] == []
    assert plane.call("GET", f"{path}/{one['id']}", "admin").status_code == 404
    assert plane.call("GET", f"{path}/nope", "admin").status_code == 404
    assert plane.call("GET", "/servers/no-such/migrations", "admin").status_code == 404

    # os-migrations by microversion: the base shape, 2.23 type, 2.59 uuid, 2.80 owners
    base = plane.ok("GET", "/os-migrations", "admin", version="2.1")["migrations"][0]
    assert base["instance_uuid"] == server["id"] and base["status"] == "completed"
    assert "migration_type" not in base and "uuid" not in base
    newest = plane.ok("GET", "/os-migrations", "admin")["migrations"][0]
    assert newest["migration_type"] == "live-migration" and "links" not in newest
    assert {"uuid", "user_id", "project_id"} <= set(newest)
    assert newest["dest_compute"] == plane.show(server["id"], "admin")["OS-EXT-SRV-ATTR:host"]
    by = {
        f"host={source}": 1, "host=nowhere": 0, "status=completed": 1, "status=error": 0,
        f"instance_uuid={server['id']}": 1, "migration_type=live-migration": 1,
        "migration_type=resize": 0, f"source_compute={source}": 1,
        "changes-since=2000-01-01T00:00:00Z": 1, "changes-before=2000-01-01T00:00:00Z": 0,
        f"project_id={newest['project_id']}": 1, "limit=0": 1, "limit=1": 1,
        f"marker={newest['uuid']}": 0}
    for query, count in by.items():
        got = plane.ok("GET", f"/os-migrations?{query}", "admin")["migrations"]
        assert len(got) == count, (query, got)
    bad = [("limit=-1", "2.100"), ("limit=x", "2.100"), ("marker=nope", "2.100"),
           ("changes-since=yesterday", "2.100"), ("limit=1", "2.58"),
           ("changes-since=0001-01-01T00:00:00%2B01:00", "2.100"),
           ("changes-before=2000-01-01T00:00:00Z", "2.65"), ("user_id=u", "2.79")]
    for query, version in bad:
        resp = plane.call("GET", f"/os-migrations?{query}", "admin", version=version)
        assert resp.status_code == 400, (query, version, resp.text)
        assert resp.json()["badRequest"]["code"] == 400


def test_a_disabled_host_takes_only_forced_moves(plane: Plane) -> None:
    server = plane.create()
    source = plane.show(server["id"], "admin")["OS-EXT-SRV-ATTR:host"]
    target = next(host for host in sorted(plane.agents) if host != source)
    services = plane.ok("GET", "/os-services?binary=nova-compute", "admin")["services"]
    for svc in services:
        if svc["host"] == target:
            plane.ok("PUT", f"/os-services/{svc['id']}", "admin", json={"status": "disabled"})
    asked = {"os-migrateLive": {"host": target, "block_migration": "auto"}}
    assert migrate(plane, server["id"], asked).status_code == 202
    deadline = time.monotonic() + 20
    found: list[Any] = []
    while not found and time.monotonic() < deadline:
        found = plane.ok("GET", f"/os-migrations?status=error&instance_uuid={server['id']}",
                         "admin")["migrations"]
        time.sleep(0.02)
    assert len(found) == 1 and found[0]["dest_compute"] == target
    shown = plane.wait(server["id"], "ACTIVE", "admin")
    assert shown["OS-EXT-SRV-ATTR:host"] == source and allocation_host(
        plane, server["id"]) == source
    with plane.service.db.reading() as tx:  # the failed move's claim is gone
        assert tx.scalar(sa.select(sa.func.count()).select_from(models.Allocation)) == 1
    action = plane.ok("GET", f"/servers/{server['id']}/os-instance-actions",
                      "admin")["instanceActions"][0]
    assert action["action"] == "live-migration" and action["message"] == "Error"
    forced = {"os-migrateLive": {"host": target, "block_migration": "auto", "force": True}}
    assert migrate(plane, server["id"], forced, version="2.30").status_code == 202
    assert wait_migrated(plane, server["id"], source)["OS-EXT-SRV-ATTR:host"] == target


def test_a_destination_that_cannot_run_the_guest_leaves_it_running_at_home(
        plane: Plane, monkeypatch: pytest.MonkeyPatch) -> None:
    server = plane.create()
    source = plane.show(server["id"], "admin")["OS-EXT-SRV-ATTR:host"]
    target = next(host for host in sorted(plane.agents) if host != source)

    def fail(instance_id: str) -> None:
        raise VirtError(f"injected: {instance_id} does not start here")
    monkeypatch.setattr(plane.agents[target].driver, "finish_incoming", fail)
    assert migrate(plane, server["id"], {"os-migrateLive": {
        "host": target, "block_migration": "auto"}}).status_code == 202
    deadline = time.monotonic() + 20
    found: list[Any] = []
    while not found and time.monotonic() < deadline:
        found = plane.ok("GET", f"/os-migrations?status=error&instance_uuid={server['id']}",
                         "admin")["migrations"]
        time.sleep(0.02)
    assert found, "the migration did not end in error"
    shown = plane.wait(server["id"], "ACTIVE", "admin")
    assert shown["OS-EXT-SRV-ATTR:host"] == source
    assert plane.agents[source].driver.power_state(server["id"]) is PowerState.RUNNING
    assert server["id"] not in {i.id for i in plane.agents[target].driver.list_instances()}


def test_each_move_has_a_key_of_its_own_never_logged(plane: Plane,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """The conductor makes a key per move and sends it to both agents, whose drivers
    get it (the destination to wait for it, the source to send with it); no log has it."""
    server = plane.create()
    seen: list[tuple[str, str]] = []
    for host, agent in plane.agents.items():
        driver = agent.driver
        prepare, send = driver.prepare_incoming, driver.live_migrate

        def prepared(spec: Any, psk: str = "", prepare: Any = prepare, host: str = host) -> Any:
            seen.append((f"{host} prepares", psk))
            return prepare(spec, psk)

        def sent(instance_id: str, target: Any, timeout: float = 600.0, send: Any = send,
                 host: str = host) -> Any:
            seen.append((f"{host} sends", target.psk))
            return send(instance_id, target, timeout)
        monkeypatch.setattr(driver, "prepare_incoming", prepared)
        monkeypatch.setattr(driver, "live_migrate", sent)
    caplog.set_level("DEBUG")
    for _ in range(2):
        source = plane.show(server["id"], "admin")["OS-EXT-SRV-ATTR:host"]
        assert migrate(plane, server["id"]).status_code == 202
        wait_migrated(plane, server["id"], source)
    assert len(seen) == 4 and seen[0][1] == seen[1][1] and seen[2][1] == seen[3][1]
    keys = {psk for _, psk in seen}
    assert len(keys) == 2 and all(len(k) == 64 and int(k, 16) >= 0 for k in keys)
    assert not [k for k in keys if k in caplog.text]
