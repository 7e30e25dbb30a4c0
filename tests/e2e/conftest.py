"""End-to-end fixtures: `labs up` as a subprocess, the unchanged `openstack` CLI."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

BIN = Path(sys.executable).parent
READY_TIMEOUT = 60.0
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningCloud:
    """A `labs up` process and how to reach it."""

    process: subprocess.Popen[str]
    url: str
    data_dir: Path
    ready_line: str

    @property
    def clouds_yaml(self) -> Path:
        return self.data_dir / "clouds.yaml"

    def openstack(self, *args: str, cloud: str | None = "labs", check: bool = True,
                  timeout: float = 90) -> subprocess.CompletedProcess[str]:
        """Run the unchanged `openstack` CLI against this cloud."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env["OS_CLIENT_CONFIG_FILE"] = str(self.clouds_yaml)
        argv = [str(BIN / "openstack")]
        if cloud is not None:
            argv += ["--os-cloud", cloud]
        result = subprocess.run([*argv, *args], env=env, capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"openstack {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def openstack_json(self, *args: str, cloud: str | None = "labs") -> Any:
        return json.loads(self.openstack(*args, "-f", "json", cloud=cloud).stdout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_labs_up(data_dir: Path, env: dict[str, str] | None = None) -> RunningCloud:
    """`labs up` on `data_dir`; on a network prefix of its own unless `env` gives one
    (never a real cloud's, and two clouds of the tests that run at once do not share
    one: a prefix belongs to one cloud)."""
    port = free_port()
    log_path = data_dir.parent / f"labs-up-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(BIN / "labs"), "up", "--data-dir", str(data_dir), "--bind",
             f"127.0.0.1:{port}"],
            stdout=subprocess.PIPE, stderr=log, text=True,
            env={**os.environ, "LABS_AGENT_NETWORK_PREFIX": f"e{uuid.uuid4().hex[:7]}",
                 **(env or {})})
    assert process.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT
    line = ""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("Labs is up") or process.poll() is not None:
            break
    if not line.startswith("Labs is up"):
        process.kill()
        process.wait(timeout=10)
        process.stdout.close()
        raise AssertionError(f"labs up did not get ready; see {log_path}:\n"
                             + log_path.read_text()[-3000:])
    return RunningCloud(process, f"http://127.0.0.1:{port}", data_dir, line.strip())


@pytest.fixture(scope="module")
def labs_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    data_dir = tmp_path_factory.mktemp("labs-e2e") / "data"
    cloud = start_labs_up(data_dir)
    try:
        yield cloud
    finally:
        cloud.stop()


class SharedClouds:
    """The clouds the e2e modules share: one per configuration, started when a test
    first asks for it and stopped when the e2e package is done. `labs up` on a
    configuration of its own (a restart, a down, more agents, other options) stays in
    its module. A test on a shared cloud keeps to names of its own (servers, networks,
    groups, projects), cleans up what it made, and asserts nothing about what other
    tests may have left, so that the order of the tests does not matter."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self._factory = factory
        self._shared: dict[str, tuple[Any, Callable[[Any], None]]] = {}

    def share(self, name: str, start: Callable[[Path], T], stop: Callable[[T], None]) -> T:
        """The cloud called `name`: `start(base)` makes it (in a new directory `base`)
        the first time, `stop` ends it with the package."""
        if name not in self._shared:
            self._shared[name] = (start(self._factory.mktemp(f"labs-shared-{name}")), stop)
        shared: T = self._shared[name][0]
        return shared

    def stop_all(self) -> None:
        failed: list[Exception] = []
        while self._shared:
            _, (shared, stop) = self._shared.popitem()
            try:
                stop(shared)
            except Exception as error:  # the others are stopped all the same
                failed.append(error)
        if failed:
            raise failed[0]


@pytest.fixture(scope="package")
def shared_clouds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedClouds]:
    clouds = SharedClouds(tmp_path_factory)
    try:
        yield clouds
    finally:
        clouds.stop_all()


def dig(port: int, name: str, type_: str = "A") -> list[str]:
    """The answer's records, one line each, sorted."""
    result = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+short", "+time=2",
                             "+tries=1", name, type_], capture_output=True, text=True,
                            timeout=20, check=True)
    return sorted(result.stdout.splitlines())


def dig_status(port: int, name: str, type_: str = "A") -> str:
    result = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+time=2", "+tries=1",
                             name, type_], capture_output=True, text=True, timeout=20,
                            check=True)
    found = re.search(r"status: (\w+)", result.stdout)
    assert found, result.stdout
    return found.group(1)
