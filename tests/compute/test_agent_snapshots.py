"""Where an agent makes snapshots: one directory, emptied when an upload fails as when it
succeeds, and of whatever a crash left there when the agent starts."""

from __future__ import annotations

import time
from pathlib import Path

from labs.compute.agent.manager import Agent
from labs.compute.virt.fake import FakeDriver
from labs.network.agent.host import HostNetworking
from labs.wiring.agent import agent_on
from tests.compute.conftest import Plane


def _agent(plane: Plane, snapshots: Path) -> Agent:
    bus = plane._bus("compute.snap-host")
    driver = FakeDriver(plane.state_dir, "snap-host")
    agent = agent_on(bus, "snap-host", "nova", driver, heartbeat_seconds=1.0, workers=2,
                     network=HostNetworking(None), snapshot_dir=snapshots)
    bus.start()
    agent.start()
    plane.agents["snap-host"] = agent
    return agent


def test_snapshot_temporaries_live_in_one_place_and_never_stay(plane: Plane,
                                                               tmp_path: Path) -> None:
    snapshots = tmp_path / "snapshots"
    crashed = snapshots / "0c1d.abc123"  # a snapshot the agent's last run did not finish
    crashed.mkdir(parents=True)
    (crashed / "disk").write_bytes(b"\0" * 4096)
    agent = _agent(plane, snapshots)
    assert list(snapshots.iterdir()) == []

    server = plane.create("admin", availability_zone="nova:snap-host")
    written: list[Path] = []
    snapshot = agent.driver.snapshot

    def recording(instance_id: str, target: Path) -> str:
        written.append(target)
        fmt = snapshot(instance_id, target)
        assert target.stat().st_size > 0
        return fmt

    agent.driver.snapshot = recording  # type: ignore[method-assign]
    # an image service that does not answer: the upload fails after the disk is written
    agent.snapshot_instance(server["id"], "img-1", "http://127.0.0.1:9", "token")
    deadline = time.monotonic() + 30
    while not written or list(snapshots.iterdir()):
        assert time.monotonic() < deadline, list(snapshots.iterdir())
        time.sleep(0.05)
    assert written[0].parent.parent == snapshots
    assert not written[0].exists()
