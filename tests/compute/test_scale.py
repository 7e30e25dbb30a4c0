"""Many builds at once against fake agents: the scheduler's claims never overcommit a
host, the quota is exact, and every server ends ACTIVE or ERROR with a fault."""

from __future__ import annotations

import concurrent.futures
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from labs.compute import models
from labs.compute.config import ComputeOptions
from tests.compute.conftest import Plane, make_plane
from tests.conftest import Cloud

ROOM_PER_HOST = 50  # g1.nano servers (128 MiB) an agent has room for


@pytest.fixture(params=[0, 90], ids=["no-overhead", "overhead-90"])
def crowded(cloud: Cloud, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Plane]:
    """Three hosts with room for ROOM_PER_HOST g1.nano each, counting the per-instance
    memory overhead the agents report and a reserve of 256 MiB when there is one."""
    overhead = int(request.param)
    reserve = 256 if overhead else 0
    options = ComputeOptions(heartbeat_seconds=1.0, service_down_seconds=60.0,
                             quota_instances=1000, quota_cores=-1, quota_ram=-1)
    yield from make_plane(cloud, tmp_path, options=options,
                          memory_mb=ROOM_PER_HOST * (128 + overhead) + reserve,
                          memory_overhead_mb=overhead, reserved_memory_mb=reserve)


def test_200_at_once_against_room_for_150(crowded: Plane) -> None:
    plane = crowded
    body = {"server": {"name": "crowd", "imageRef": plane.image_id, "flavorRef": "6",
                       "networks": "none"}}
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda _: plane.call("POST", "/servers", json=body),
                                range(200)))
    assert Counter(r.status_code for r in replies) == {202: 200}
    ids = [r.json()["server"]["id"] for r in replies]
    deadline = time.monotonic() + 120
    statuses: Counter[str] = Counter()
    while time.monotonic() < deadline:
        listed = plane.ok("GET", "/servers/detail?limit=1000")["servers"]
        statuses = Counter(s["status"] for s in listed if s["id"] in ids)
        if statuses["ACTIVE"] + statuses["ERROR"] == 200:
            break
        time.sleep(0.1)
    assert statuses == {"ACTIVE": 150, "ERROR": 50}, statuses
    listed = plane.ok("GET", "/servers/detail?limit=1000")["servers"]
    faults = {s["fault"]["message"].split(".")[0] for s in listed if s["status"] == "ERROR"}
    assert faults == {"No valid host was found"}
    with plane.service.db.reading() as tx:
        per_node = {node: n for node, n in tx.execute(
            sa.select(models.Allocation.node_id, sa.func.count())
            .group_by(models.Allocation.node_id))}
    assert sorted(per_node.values()) == [ROOM_PER_HOST] * 3
    limits = plane.ok("GET", "/limits")["limits"]["absolute"]
    assert limits["totalInstancesUsed"] == 200
    assert limits["totalRAMUsed"] == 200 * 128
