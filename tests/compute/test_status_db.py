"""`labs status` reads the cloud's database: compute services judged up or down as the
scheduler judges them, the agents' hosts, the VMs by status with those in ERROR named.
A service of the running `labs up` whose heartbeats stopped fails the status; a stopped
cloud whose services still look up is only "not running". A control plane in-process
(fake agents h1, h2, h3) fills the database; `h1` is the agent `labs up` would run."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from labs.common.config import Config
from labs.common.runner import Site
from labs.compute import models
from labs.compute.payloads import utcnow
from labs.compute.virt import ksm
from labs.compute.virt.fake import FAIL_SPAWN_KEY
from labs.wiring.operate import UP_RECORD
from labs.wiring.status import status
from labs.wiring.status_db import ERRORS_NAMED, CloudRecords, vm_lines
from tests.compute.conftest import Plane


@pytest.fixture
def site(plane: Plane, tmp_path: Path) -> Site:
    """The site of the plane's database, with `labs up`'s agent on h1 and a network
    prefix of its own (so no other cloud's host state is in the picture)."""
    sections = {"database": {"url": plane.service.db.url},
                "agent": {"driver": "fake", "host": "h1",
                          "network_prefix": f"s{uuid.uuid4().hex[:8]}"},
                "compute": {"service_down_seconds": "30"}}
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return Site(data_dir, Config(sections, environ={}))


@pytest.fixture
def labs_up(site: Site) -> Iterator[int]:
    """A running `labs up` as its record says: a live process with a Labs command line."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "labs"])
    (site.data_dir / UP_RECORD).write_text(json.dumps({"pid": proc.pid,
                                                       "url": "http://127.0.0.1:1"}))
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def run_status(site: Site, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = status(site)
    return code, capsys.readouterr().out


def silence(plane: Plane, host: str, seconds: float) -> None:
    """`host`'s agent stops and its last heartbeat is `seconds` old."""
    plane.stop_agent(host)
    with plane.service.db.transaction() as tx:
        tx.execute(sa.update(models.Service).where(models.Service.host == host)
                   .values(last_seen=utcnow() - timedelta(seconds=seconds)))


def test_a_healthy_cloud_lists_its_services_hosts_and_vms(
        plane: Plane, site: Site, labs_up: int, capsys: pytest.CaptureFixture[str]) -> None:
    plane.create(name="vm-a")
    plane.create(name="vm-b")
    code, out = run_status(site, capsys)
    assert code == 0, out
    assert f"labs up: running (pid {labs_up})" in out
    for host in ("h1", "h2", "h3"):
        assert f"  nova-compute on {host} (zone nova): enabled, up, last heartbeat " in out
    assert "down after 30 s without a heartbeat" in out
    assert "agents' hosts:" in out
    assert "  h1 (fake): " in out and "memory in MiB: 65536 in all" in out
    assert "VMs in the database: 2 (ACTIVE 2)" in out
    assert "healthy: up" in out and "PROBLEM" not in out


def test_a_stale_heartbeat_of_labs_ups_agent_fails_the_status(
        plane: Plane, site: Site, labs_up: int, capsys: pytest.CaptureFixture[str]) -> None:
    silence(plane, "h1", 300)
    silence(plane, "h2", 300)  # not `labs up`'s: shown down, not a problem of this cloud
    code, out = run_status(site, capsys)
    assert code == 1, out
    assert "  nova-compute on h1 (zone nova): enabled, down, last heartbeat 5 min ago" in out
    assert "  nova-compute on h2 (zone nova): enabled, down, last heartbeat 5 min ago" in out
    problems = [line for line in out.splitlines() if line.startswith("PROBLEM")]
    assert len(problems) == 1, out
    assert "its nova-compute on h1 last sent a heartbeat 5 min ago" in problems[0]
    assert "labs up's log" in problems[0] and f"kill -TERM {labs_up}" in problems[0]
    assert f"`labs up --data-dir {site.data_dir}`" in problems[0]


def test_a_stopped_cloud_is_not_running_rather_than_down(
        plane: Plane, site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    silence(plane, "h1", 300)
    code, out = run_status(site, capsys)
    assert code == 0, out
    assert "labs up: not running" in out
    assert "nova-compute on h1 (zone nova): enabled, not running (labs up is not), " \
           "last heartbeat 5 min ago" in out
    assert "cleanly down" in out


def test_vms_in_error_are_named(plane: Plane, site: Site, labs_up: int,
                                capsys: pytest.CaptureFixture[str]) -> None:
    plane.create(name="fine")
    broken = plane.create(name="broken", wait="ERROR",
                          metadata={FAIL_SPAWN_KEY: "h1,h2,h3"})
    gone = plane.create(name="gone")["id"]
    plane.ok("DELETE", f"/servers/{gone}")
    plane.wait_gone(gone)
    code, out = run_status(site, capsys)
    assert code == 0, out  # a VM in ERROR is the user's to deal with, not the cloud's
    assert "VMs in the database: 2 (ACTIVE 1, ERROR 1)" in out, out
    assert f"  in ERROR: {broken['id']} (broken)" in out


def test_no_database_yet_is_said_and_not_made(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    site = Site(tmp_path, Config({"agent": {"driver": "fake",
                                            "network_prefix": f"s{uuid.uuid4().hex[:8]}"}},
                                 environ={}))
    code, out = run_status(site, capsys)
    assert code == 0, out
    assert f"database: no database yet ({tmp_path / 'labs.db'})" in out
    assert not (tmp_path / "labs.db").exists()
    # what KSM does on this host, as the kernel says
    state = ksm.read_state()
    assert ("KSM (identical pages of VMs kept once): "
            + ("not in this kernel" if state is None else "")) in out


def test_past_a_few_vms_in_error_the_rest_are_counted() -> None:
    named = [(f"id-{i}", f"vm-{i}") for i in range(ERRORS_NAMED)]
    records = CloudRecords(utcnow(), [], [], Counter({"ERROR": ERRORS_NAMED + 2, "ACTIVE": 1}),
                           named)
    lines = vm_lines(records)
    assert lines[0] == (f"VMs in the database: {ERRORS_NAMED + 3} "
                        f"(ACTIVE 1, ERROR {ERRORS_NAMED + 2})")
    assert lines[1:-1] == [f"  in ERROR: id-{i} (vm-{i})" for i in range(ERRORS_NAMED)]
    assert lines[-1].startswith("  and 2 more in ERROR")
