"""A member against the compute API of `labs up` (fake driver), through openstacksdk,
the CLI and plain HTTP: what one caller must not be able to do to the cloud or to
another caller's lock, and the request ids instance actions record."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openstack.config
import pytest
from openstack.connection import Connection

from tests.e2e.conftest import RunningCloud, start_labs_up


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    base = tmp_path_factory.mktemp("labs-compute-hardening")
    running = start_labs_up(base / "data", {"LABS_AGENT_DRIVER": "fake"})
    try:
        yield running
    finally:
        running.stop()


def connect(cloud: RunningCloud, name: str = "labs") -> Connection:
    return Connection(config=openstack.config.OpenStackConfig(
        config_files=[str(cloud.clouds_yaml)]).get_one(name))


def wait_active(conn: Connection, server: Any) -> Any:
    return conn.compute.wait_for_server(server, status="ACTIVE", interval=0.2, wait=30)


def test_a_pathological_name_filter_holds_nobody_up(cloud: RunningCloud) -> None:
    """``^(a+)+$`` against ``aaaa…!`` backtracks for 2^n steps in Python's re: the
    list answers at once, and a flavor list sent meanwhile is not held up."""
    conn = connect(cloud, "labs-demo")
    try:
        image = conn.image.find_image("labs")
        flavor = conn.compute.find_flavor("g1.nano")
        wait_active(conn, conn.compute.create_server(
            name="a" * 40 + "!", image_id=image.id, flavor_id=flavor.id, networks="none"))
        compute = conn.compute.get_endpoint()
        headers = {"X-Auth-Token": conn.auth_token}
        finished: dict[str, float] = {}

        def evil() -> None:
            started = time.monotonic()
            resp = httpx.get(f"{compute}/servers", params={"name": "^(a+)+$"},
                             headers=headers, timeout=60)
            finished["evil"] = time.monotonic() - started
            finished["evil_status"] = resp.status_code
            finished["evil_count"] = len(resp.json()["servers"])

        worker = threading.Thread(target=evil)
        worker.start()
        worst = 0.0
        try:
            for _ in range(10):
                started = time.monotonic()
                flavors = httpx.get(f"{compute}/flavors", headers=headers, timeout=30)
                worst = max(worst, time.monotonic() - started)
                assert flavors.status_code == 200
        finally:
            worker.join(90)
        assert worst < 1.0, f"a flavor list waited {worst:.2f} s beside the name filter"
        assert finished["evil"] < 2.0 and finished["evil_status"] == 200, finished
        assert finished["evil_count"] == 0  # RE2 searches, as the DB's REGEXP: no match
        found = list(conn.compute.servers(name="a{40}!"))
        assert [s.name for s in found] == ["a" * 40 + "!"]
        bad = httpx.get(f"{compute}/servers", params={"name": "(a)\\1"}, headers=headers)
        assert bad.status_code == 400, bad.text
        assert "Invalid regular expression for name" in bad.json()["badRequest"]["message"]
        unbalanced = httpx.get(f"{compute}/servers", params={"name": "(("},
                               headers=headers)
        assert unbalanced.status_code == 400, unbalanced.text
    finally:
        conn.close()


def test_instance_actions_record_the_request_id(cloud: RunningCloud) -> None:
    """Each action carries the id of the HTTP request that started it (the response's
    x-openstack-request-id and x-compute-request-id), and shows by it."""
    conn = connect(cloud, "labs-demo")
    try:
        image = conn.image.find_image("labs")
        flavor = conn.compute.find_flavor("g1.nano")
        server = wait_active(conn, conn.compute.create_server(
            name="acts", image_id=image.id, flavor_id=flavor.id, networks="none"))
        compute = conn.compute.get_endpoint()
        headers = {"X-Auth-Token": conn.auth_token}
        stop = httpx.post(f"{compute}/servers/{server.id}/action", json={"os-stop": None},
                          headers=headers)
        assert stop.status_code == 202, stop.text
        stop_id = stop.headers["x-openstack-request-id"]
        assert stop.headers["x-compute-request-id"] == stop_id
        conn.compute.wait_for_server(server, status="SHUTOFF", interval=0.2, wait=30)
        mine = "req-0b5c0f4e-5d55-4c37-9d0e-0b8f4c7b8c1e"
        start = httpx.post(f"{compute}/servers/{server.id}/action", json={"os-start": None},
                           headers={**headers, "X-OpenStack-Request-ID": mine})
        assert start.status_code == 202 and start.headers["x-openstack-request-id"] == mine
        bad = httpx.get(f"{compute}/flavors", headers={
            **headers, "X-OpenStack-Request-ID": "req-'; drop table x"})
        assert bad.headers["x-openstack-request-id"].startswith("req-")
        assert bad.headers["x-openstack-request-id"] != "req-'; drop table x"
        wait_active(conn, server)
        events = cloud.openstack_json("server", "event", "list", "acts", cloud="labs-demo")
        by_action = {e["Action"]: e["Request ID"] for e in events}
        assert by_action["stop"] == stop_id and by_action["start"] == mine, events
        assert len({e["Request ID"] for e in events}) == 3, events
        for action, request_id in by_action.items():
            shown = cloud.openstack_json("server", "event", "show", "acts", request_id,
                                         cloud="labs-demo")
            assert shown["action"] == action and shown["request_id"] == request_id, shown
        sdk = conn.compute.get_server_action(stop_id, server)
        assert sdk.action == "stop"
    finally:
        conn.close()


def test_an_admins_lock_stays_the_admins(cloud: RunningCloud) -> None:
    """Through the CLI: a member's lock on a server an admin locked changes nothing (as
    Nova), and the member can neither unlock nor delete it until the admin unlocks."""
    demo = connect(cloud, "labs-demo")
    try:
        image = demo.image.find_image("labs")
        flavor = demo.compute.find_flavor("g1.nano")
        server = wait_active(demo, demo.compute.create_server(
            name="held", image_id=image.id, flavor_id=flavor.id, networks="none"))
    finally:
        demo.close()
    cloud.openstack("server", "lock", "--reason", "incident 7", server.id)
    cloud.openstack("server", "lock", server.id, cloud="labs-demo")  # Nova: a no-op
    unlock = cloud.openstack("server", "unlock", server.id, cloud="labs-demo", check=False)
    assert unlock.returncode != 0 and "403" in unlock.stderr, unlock.stderr
    delete = cloud.openstack("server", "delete", server.id, cloud="labs-demo", check=False)
    assert delete.returncode != 0, delete.stdout
    shown = cloud.openstack_json("server", "show", server.id, cloud="labs-demo")
    assert shown["locked"] is True and shown["locked_reason"] == "incident 7", shown
    events = [e["Action"] for e in cloud.openstack_json("server", "event", "list", server.id,
                                                        cloud="labs-demo")]
    assert events == ["lock", "create"], events
    cloud.openstack("server", "unlock", server.id)
    cloud.openstack("server", "lock", server.id, cloud="labs-demo")
    cloud.openstack("server", "unlock", server.id, cloud="labs-demo")
    cloud.openstack("server", "delete", "--wait", server.id, cloud="labs-demo")
