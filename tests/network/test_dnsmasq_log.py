"""A network's dnsmasq log stays bounded: a real dnsmasq, made to log a line per query,
writes on at the start of its log once the log is cut, and the cut keeps the newest part
once. No namespace: this dnsmasq answers DNS on a loopback port only. The agent's
periodic round cuts the logs of the networks in the driver's records with no network
ensured in between."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import pytest

from labs.network.agent.drivers.bridge.dnsmasq import LOG_MAX_BYTES, Dnsmasq
from labs.network.agent.drivers.bridge.driver import BridgeDriver
from labs.network.agent.host import HostNetworking
from labs.network.specs import NetworkSpec


@pytest.fixture
def logging_dnsmasq(tmp_path: Path) -> Iterator[tuple[Dnsmasq, int]]:
    if shutil.which("dnsmasq") is None:
        pytest.fail("dnsmasq is needed: apt-get install dnsmasq-base")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    daemon = Dnsmasq(tmp_path, "test-ns", "lo")
    proc = subprocess.Popen(
        ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
         "--no-hosts", "--bind-interfaces", "--listen-address=127.0.0.1", f"--port={port}",
         "--address=/labs.test/10.0.0.1", "--log-queries", "--user=root",
         f"--log-facility={daemon.log_file}", f"--pid-file={tmp_path / 'pid'}"])
    try:
        deadline = time.monotonic() + 10
        while not daemon.log_file.exists() or b"started" not in daemon.log_file.read_bytes():
            assert proc.poll() is None, f"dnsmasq ended with {proc.returncode}"
            assert time.monotonic() < deadline, "dnsmasq did not start in 10 s"
            time.sleep(0.05)
        yield daemon, port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _ask(port: int, count: int) -> None:
    for i in range(count):
        query = dns.message.make_query(f"host-{i}.labs.test", "A")
        dns.query.udp(query, "127.0.0.1", port=port, timeout=5)


def _wait_for(path: Path, text: bytes) -> bytes:
    deadline = time.monotonic() + 10
    while text not in (data := path.read_bytes()):
        assert time.monotonic() < deadline, data[-300:]
        time.sleep(0.05)
    return data


def test_the_log_is_cut_at_its_cap_and_dnsmasq_writes_on_at_its_start(
        logging_dnsmasq: tuple[Dnsmasq, int]) -> None:
    daemon, port = logging_dnsmasq
    _ask(port, 200)
    full = _wait_for(daemon.log_file, b"host-199.labs.test")
    cap = 4096
    assert len(full) > cap
    daemon.bound_log(cap)
    assert daemon.log_file.stat().st_size == 0
    kept = daemon.previous_log.read_bytes()
    assert len(kept) == cap and kept.endswith(full[-cap:][-200:])
    assert daemon.previous_log.stat().st_mode & 0o777 == 0o640

    for _ in range(3):  # again and again: the two files never pass the cap by much
        _ask(port, 100)
        after = _wait_for(daemon.log_file, b"host-99.labs.test")
        assert b"\0" not in after  # written at the start, no hole before it
        assert after.count(b"query[A]") >= 100
        daemon.bound_log(cap)
        assert daemon.log_file.stat().st_size == 0
        assert daemon.previous_log.stat().st_size == cap

    daemon.bound_log(cap)  # under the cap: left alone
    assert daemon.previous_log.stat().st_size == cap


def test_the_agents_periodic_round_cuts_a_log_past_its_cap(tmp_path: Path) -> None:
    driver = BridgeDriver(tmp_path / "state", prefix="logcut")
    logs = {}
    for name, size in (("busy", LOG_MAX_BYTES + 300_000), ("quiet", 2000)):
        spec = NetworkSpec(id=f"net-{name}", project_id=name, cidr="10.70.1.0/24",
                           gateway="10.70.1.1", dns_domain=f"{name}.labs.test")
        driver.state.save_network(spec)  # in the records, never ensured here
        log_file = driver.state.network_dir(spec.id) / "dnsmasq.log"
        log_file.write_bytes(b"".join(b"line %07d of dnsmasq's log\n" % i
                                      for i in range(size // 28 + 1))[:size])
        logs[name] = log_file
    busy = logs["busy"].read_bytes()
    networking = HostNetworking(driver, log_cut_seconds=0.05)
    networking.start()
    try:
        deadline = time.monotonic() + 10
        while logs["busy"].stat().st_size > 0:
            assert time.monotonic() < deadline, "the periodic round did not cut the log"
            time.sleep(0.05)
    finally:
        networking.close()
    kept = logs["busy"].with_name("dnsmasq.log.1").read_bytes()
    assert kept == busy[-LOG_MAX_BYTES:]
    assert logs["quiet"].stat().st_size == 2000  # under the cap: left alone
    assert not logs["quiet"].with_name("dnsmasq.log.1").exists()
