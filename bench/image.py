"""Benchmark the image service's data path: upload and download through the API.

Times ``PUT /v2/images/{id}/file`` and ``GET /v2/images/{id}/file`` of an N MiB
image (default 1 GiB) served by ``labs up`` and, in the same run on the same
disk, a plain copy of the same file (``shutil.copyfile``) and a plain read of it
to /dev/null. The throughput ratios API / copy are the figures (aim: >= 0.8).
The server's RSS is sampled every 50 ms during every transfer, for two image
sizes, and its kernel-kept peak (VmHWM, reset before each transfer) read after
it, to show whether memory stays flat as images grow. See bench/README.md.

    .venv/bin/python bench/image.py             # 1 GiB and 256 MiB, 2-4 minutes
    .venv/bin/python bench/image.py --quick     # 256 MiB and 64 MiB
    .venv/bin/python bench/image.py --profile   # also py-spy the server (5 s each way)

Page cache: every operation runs once "cold" (the file it reads evicted from the
page cache with posix_fadvise(DONTNEED) after an fsync; checked with fincore)
and ``--repeat`` times "warm" (the file it reads is cached), interleaved so that
a change in the machine's load hits all of them alike. The client streams: the
upload body is a generator of 1 MiB reads, the download is consumed with
``iter_raw`` and dropped; a separate, untimed download is hashed to verify the
data against the source and against the image's ``checksum`` / ``os_hash_value``.
Everything runs on loopback; the data dir and every temporary file are removed
at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import yaml

from _load import CpuMeter, CpuShare, free_port, machine, markdown_table

LABS = Path(sys.executable).with_name("labs")
PY_SPY = Path(sys.executable).with_name("py-spy")
RESULTS = Path(__file__).resolve().parent / "results"
MIB = 1 << 20
CHUNK = MIB  # what the client reads and sends at a time; the server's chunk_size too
HASH_ALGO = "sha256"  # the server's default [image] hashing_algorithm

#: The issue's aims.
AIM_RATIO = 0.8
#: "Flat": the peak RSS of the large upload exceeds that of the small one by at most this.
FLAT_MIB = 16.0

RSS_INTERVAL_S = 0.05
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0
HTTP_TIMEOUT = httpx.Timeout(connect=10.0, read=600.0, write=600.0, pool=10.0)
PROFILE_SECONDS = 5
#: Before each image size, wait (bounded) until other processes use at most this.
QUIET_OTHER_CORES = 0.3
QUIET_LIMIT_S = 120.0


def _stop_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


# -- /proc ----------------------------------------------------------------------------

def status_kb(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (Linux >= 4.0)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def threads_of(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


class RssWatch:
    """Samples one process's VmRSS in a thread (bounded in time) during a ``with``.

    On entry the kernel's peak (VmHWM) is reset, so on exit VmHWM is the true peak
    of the window, even between samples.
    """

    def __init__(self, pid: int, interval_s: float = RSS_INTERVAL_S,
                 max_s: float = 1800.0) -> None:
        self.pid, self.interval_s, self.max_s = pid, interval_s, max_s
        self.samples: list[tuple[float, int]] = []
        self.start_kb = self.end_kb = 0
        self.hwm_kb: int | None = None
        self._hwm_reset = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-watch", daemon=True)
        self._t0 = 0.0

    def _sample(self) -> None:
        kb = status_kb(self.pid, "VmRSS")
        if kb is not None:
            self.samples.append((time.monotonic() - self._t0, kb))

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_s
        while not self._stop.is_set() and time.monotonic() < deadline:
            self._sample()
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssWatch:
        self._hwm_reset = reset_peak(self.pid)
        self.start_kb = status_kb(self.pid, "VmRSS") or 0
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()
        self.end_kb = status_kb(self.pid, "VmRSS") or 0
        if self._hwm_reset:
            self.hwm_kb = status_kb(self.pid, "VmHWM")

    @property
    def peak_kb(self) -> int:
        """The highest of the samples and the kernel's peak."""
        sampled = max((kb for _, kb in self.samples), default=0)
        return max(sampled, self.hwm_kb or 0)

    def to_json(self) -> dict[str, Any]:
        step = max(1, len(self.samples) // 100)  # at most ~100 points in the file
        return {
            "start_mib": mib(self.start_kb), "end_mib": mib(self.end_kb),
            "peak_sampled_mib": mib(max((kb for _, kb in self.samples), default=0)),
            "peak_hwm_mib": None if self.hwm_kb is None else mib(self.hwm_kb),
            "peak_mib": mib(self.peak_kb), "samples": len(self.samples),
            "series_s_mib": [[round(t, 2), mib(kb)] for t, kb in self.samples[::step]],
        }


def mib(kb: int) -> float:
    return round(kb / 1024, 1)


# -- files and the page cache ----------------------------------------------------------

def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def evict(path: Path) -> None:
    """Drop the file's pages from the page cache (written back first: DONTNEED skips
    dirty pages). Only this file: the rest of the machine keeps its cache."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def cached_bytes(path: Path) -> int | None:
    """How much of the file is in the page cache (util-linux fincore), if known."""
    fincore = shutil.which("fincore")
    if fincore is None:
        return None
    proc = subprocess.run([fincore, "--bytes", "--noheadings", "--output", "RES", str(path)],
                          capture_output=True, text=True, check=False, timeout=30)
    text = proc.stdout.strip()
    return int(text) if proc.returncode == 0 and text.isdigit() else None


def write_source(path: Path, size: int, seed: int) -> dict[str, str]:
    """``size`` bytes of (seeded) random data, durable; its md5, sha256 and sha512."""
    rng = random.Random(seed)
    sums = {name: hashlib.new(name) for name in ("md5", "sha256", "sha512")}
    with open(path, "wb") as out:
        for _ in range(size // CHUNK):
            block = rng.randbytes(CHUNK)
            out.write(block)
            for h in sums.values():
                h.update(block)
        out.flush()
        os.fsync(out.fileno())
    return {name: h.hexdigest() for name, h in sums.items()}


def hashed_copy(source: Path, target: Path, algo: str) -> None:
    """What the image service must do besides HTTP: copy in 1 MiB chunks, md5 and
    ``algo`` each in its own thread on one chunk while the next is read, fsync."""
    md5, multihash = hashlib.md5(usedforsecurity=False), hashlib.new(algo)
    hashing: list[Future[None]] = []
    with (open(source, "rb") as src, open(target, "wb") as out,
          ThreadPoolExecutor(2) as hashers):
        while chunk := src.read(CHUNK):
            for done in hashing:
                done.result()
            hashing = [hashers.submit(md5.update, chunk), hashers.submit(multihash.update, chunk)]
            out.write(chunk)
        for done in hashing:
            done.result()
        out.flush()
        os.fsync(out.fileno())


def read_to_null(path: Path) -> int:
    """Read the file in 1 MiB reads into /dev/null; the bytes read."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    total = 0
    with open(path, "rb", buffering=0) as src, open(os.devnull, "wb", buffering=0) as null:
        while n := src.readinto(buf):
            null.write(view[:n])
            total += n
    return total


def mount_of(path: Path) -> dict[str, str]:
    """The mount (device, mount point, file system type) that holds ``path``."""
    best = {"device": "?", "mount": "/", "fstype": "?"}
    target = str(path.resolve())
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, fstype = line.split()[:3]
            inside = target == mount or target.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(best["mount"]):
                best = {"device": device, "mount": mount, "fstype": fstype}
    return best


# -- the server ------------------------------------------------------------------------

@dataclass
class Server:
    """One ``labs up`` process on a loopback port, with its data dir."""

    data_dir: Path
    quota_bytes: int
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    started_in_s: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def command(self) -> list[str]:
        return [str(LABS), "up", "--data-dir", str(self.data_dir),
                "--bind", f"127.0.0.1:{self.port}"]

    def env(self) -> dict[str, str]:
        # Nothing of the caller's Labs configuration leaks in (database URL, config file).
        env = {k: v for k, v in os.environ.items() if not k.startswith("LABS_")}
        env["LABS_IMAGE_BOOTSTRAP_IMAGE"] = "false"
        env["LABS_IMAGE_PROJECT_QUOTA_BYTES"] = str(self.quota_bytes)
        return env

    def start(self) -> None:
        self.log_path = self.data_dir.parent / "labs-up.log"
        began = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env(),
                                         start_new_session=True)
        deadline = began + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if "Labs is up" in self.log_path.read_text(errors="replace"):
                self.started_in_s = time.monotonic() - began
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"labs up did not start (exit {self.proc.poll()}):\n"
                           f"{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT_S)

    def clouds(self) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load((self.data_dir / "clouds.yaml").read_text())
        cloud: dict[str, Any] = data["clouds"]["labs"]
        return cloud

    def token(self) -> str:
        auth = self.clouds()["auth"]
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": auth["username"], "password": auth["password"],
                "domain": {"name": auth["user_domain_name"]}}}},
            "scope": {"project": {"name": auth["project_name"],
                                  "domain": {"name": auth["project_domain_name"]}}}}}
        reply = httpx.post(auth["auth_url"].rstrip("/") + "/auth/tokens", json=body,
                           timeout=30.0)
        if reply.status_code != 201:
            raise RuntimeError(f"token: {reply.status_code} {reply.text[:300]}")
        return reply.headers["X-Subject-Token"]


class ImageApi:
    """The few image calls the benchmark makes; bodies stream both ways."""

    def __init__(self, base_url: str, token: str) -> None:
        self.client = httpx.Client(base_url=base_url + "/image/v2", timeout=HTTP_TIMEOUT,
                                   headers={"X-Auth-Token": token})

    def close(self) -> None:
        self.client.close()

    @staticmethod
    def _check(reply: httpx.Response, status: int, what: str) -> None:
        if reply.status_code != status:
            raise RuntimeError(f"{what}: {reply.status_code} {reply.text[:300]}")

    def create(self, name: str) -> str:
        reply = self.client.post("/images", json={
            "name": name, "disk_format": "raw", "container_format": "bare"})
        self._check(reply, 201, "create image")
        image_id: str = reply.json()["id"]
        return image_id

    def show(self, image_id: str) -> dict[str, Any]:
        reply = self.client.get(f"/images/{image_id}")
        self._check(reply, 200, "show image")
        image: dict[str, Any] = reply.json()
        return image

    def delete(self, image_id: str) -> None:
        self._check(self.client.delete(f"/images/{image_id}"), 204, "delete image")

    def upload(self, image_id: str, path: Path) -> int:
        """PUT the file, read 1 MiB at a time as httpx sends it; the bytes sent."""
        size = path.stat().st_size
        sent = 0

        def body() -> Iterator[bytes]:
            nonlocal sent
            with open(path, "rb", buffering=0) as src:
                while chunk := src.read(CHUNK):
                    sent += len(chunk)
                    yield chunk

        reply = self.client.put(f"/images/{image_id}/file", content=body(), headers={
            "Content-Type": "application/octet-stream", "Content-Length": str(size)})
        self._check(reply, 204, "upload")
        return sent

    def download(self, image_id: str,
                 sums: dict[str, Any] | None = None) -> tuple[int, dict[str, str]]:
        """GET the data as it arrives, dropping it (or feeding ``sums``); the bytes
        received and the response headers."""
        received = 0
        with self.client.stream("GET", f"/images/{image_id}/file") as reply:
            if reply.status_code != 200:
                reply.read()
                self._check(reply, 200, "download")
            for chunk in reply.iter_raw():
                received += len(chunk)
                if sums is not None:
                    for h in sums.values():
                        h.update(chunk)
            return received, dict(reply.headers)


# -- measuring -------------------------------------------------------------------------

@dataclass
class Timed:
    """One timed operation."""

    op: str  # read, copy, copy+fsync, copy+hash, upload, download
    size_mib: int
    cache: str  # cold or warm: whether the file read was in the page cache
    seconds: float
    cpu: CpuShare | None = None
    rss: RssWatch | None = None
    cached_before: int | None = None  # bytes of the file read in the page cache

    @property
    def mib_s(self) -> float:
        return self.size_mib / self.seconds

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "size_mib": self.size_mib, "cache": self.cache,
                "seconds": round(self.seconds, 3), "mib_s": round(self.mib_s, 1),
                "cached_before_mib": None if self.cached_before is None
                else round(self.cached_before / MIB, 1),
                "cpu_cores": None if self.cpu is None else self.cpu.to_json(),
                "rss": None if self.rss is None else self.rss.to_json()}


@dataclass
class Bench:
    server: Server
    api: ImageApi
    work: Path
    repeat: int
    timings: list[Timed] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    idle_rss_kb: dict[int, int] = field(default_factory=dict)
    quiet: dict[int, dict[str, Any]] = field(default_factory=dict)

    def timed(self, op: str, size_mib: int, cache: str, read_path: Path,
              action: Callable[[], object], watch_rss: bool) -> Timed:
        """Time ``action`` with the CPU split of the window and, for API calls, the
        server's RSS."""
        cached = cached_bytes(read_path)
        meter = CpuMeter(self.server.pid)
        watch = RssWatch(self.server.pid) if watch_rss else None
        with watch if watch is not None else contextlib.nullcontext():
            meter.start()
            began = time.perf_counter()
            action()
            seconds = time.perf_counter() - began
            cpu = meter.stop()
        result = Timed(op, size_mib, cache, seconds, cpu, watch, cached)
        self.timings.append(result)
        print(f"  {op:<10} {size_mib:>5} MiB {cache:<4} {seconds:7.2f} s "
              f"{result.mib_s:8.1f} MiB/s"
              + ("" if watch is None else f"  server peak RSS {mib(watch.peak_kb)} MiB"),
              flush=True)
        return result

    def copy(self, size_mib: int, cache: str, source: Path) -> None:
        """shutil.copyfile, timed without and with the fsync of the copy."""
        target = self.work / "copy.img"
        cached = cached_bytes(source)
        meter = CpuMeter(self.server.pid)
        meter.start()
        began = time.perf_counter()
        shutil.copyfile(source, target)
        copied = time.perf_counter()
        fsync_path(target)
        synced = time.perf_counter()
        cpu = meter.stop()
        target.unlink()
        for op, seconds in (("copy", copied - began), ("copy+fsync", synced - began)):
            result = Timed(op, size_mib, cache, seconds, cpu, None, cached)
            self.timings.append(result)
            print(f"  {op:<10} {size_mib:>5} MiB {cache:<4} {seconds:7.2f} s "
                  f"{result.mib_s:8.1f} MiB/s", flush=True)
        if cache == "cold":
            evict(source)
        self.timed("copy+hash", size_mib, cache, source,
                   lambda: hashed_copy(source, target, HASH_ALGO), watch_rss=False)
        target.unlink()

    def upload(self, size_mib: int, cache: str, source: Path) -> str:
        image_id = self.api.create(f"bench-{size_mib}-{cache}")
        sent: list[int] = []
        self.timed("upload", size_mib, cache, source,
                   lambda: sent.append(self.api.upload(image_id, source)), watch_rss=True)
        if sent != [size_mib * MIB]:
            raise RuntimeError(f"sent {sent} bytes, not {size_mib * MIB}")
        return image_id

    def download(self, size_mib: int, cache: str, image_id: str) -> None:
        stored = self.server.data_dir / "images" / image_id
        got: list[int] = []
        self.timed("download", size_mib, cache, stored,
                   lambda: got.append(self.api.download(image_id)[0]), watch_rss=True)
        if got != [size_mib * MIB]:
            raise RuntimeError(f"received {got} bytes, not {size_mib * MIB}")

    def verify(self, size_mib: int, image_id: str, source_sums: dict[str, str]) -> bool:
        """Download once more (untimed), hashing; compare with the source and the record."""
        sums = {name: hashlib.new(name) for name in source_sums}
        received, headers = self.api.download(image_id, sums)
        got = {name: h.hexdigest() for name, h in sums.items()}
        image = self.api.show(image_id)
        check = {
            "size_mib": size_mib, "image_id": image_id,
            "bytes_received": received, "size_matches": received == size_mib * MIB
            and image.get("size") == size_mib * MIB,
            "download_matches_source": got == source_sums,
            "checksum_is_source_md5": image.get("checksum") == source_sums["md5"],
            "content_md5_header": headers.get("content-md5") == source_sums["md5"],
            "os_hash_value_matches_source":
                image.get("os_hash_value") == source_sums.get(str(image.get("os_hash_algo"))),
            "status": image.get("status"),
        }
        check["ok"] = all(v for k, v in check.items()
                          if k not in ("size_mib", "image_id", "bytes_received", "status"))
        self.checks.append(check)
        print(f"  verify     {size_mib:>5} MiB: {'ok' if check['ok'] else 'MISMATCH'} "
              f"(md5 {got['md5']}, sha256 {got['sha256'][:16]}...)", flush=True)
        return bool(check["ok"])

    def wait_quiet(self, size_mib: int) -> None:
        """Wait (at most QUIET_LIMIT_S) until other processes leave the CPUs nearly idle;
        recorded either way. MariaDB counts as "other" here: Labs up uses SQLite."""
        meter = CpuMeter(self.server.pid)
        began = time.monotonic()
        share = meter.measure(1.0)
        while share.other + share.mariadb > QUIET_OTHER_CORES and (
                time.monotonic() - began < QUIET_LIMIT_S):
            share = meter.measure(1.0)
        waited = time.monotonic() - began
        self.quiet[size_mib] = {"waited_s": round(waited, 1),
                                "last_window": share.to_json(),
                                "quiet": share.other + share.mariadb <= QUIET_OTHER_CORES}
        print(f"{size_mib} MiB: waited {waited:.0f} s for a quiet machine (others use "
              f"{share.other + share.mariadb:.2f} cores)", flush=True)

    def run_size(self, size_mib: int, seed: int) -> bool:
        """Cold round, then ``repeat`` warm rounds of copy, upload, download, read."""
        source = self.work / f"source-{size_mib}.img"
        print(f"{size_mib} MiB: writing the source file", flush=True)
        sums = write_source(source, size_mib * MIB, seed)
        self.wait_quiet(size_mib)
        self.idle_rss_kb[size_mib] = status_kb(self.server.pid, "VmRSS") or 0
        images: list[str] = []
        try:
            for cache in ["cold"] + ["warm"] * self.repeat:
                if cache == "cold":
                    evict(source)
                self.copy(size_mib, cache, source)
                if cache == "cold":
                    evict(source)
                images.append(self.upload(size_mib, cache, source))
                if cache == "cold":
                    evict(self.server.data_dir / "images" / images[-1])
                self.download(size_mib, cache, images[-1])
                if cache == "cold":
                    evict(source)
                self.timed("read", size_mib, cache, source,
                           lambda: read_to_null(source), watch_rss=False)
                while len(images) > 1:  # keep one image: the last, for verify
                    self.api.delete(images.pop(0))
            return self.verify(size_mib, images[-1], sums)
        finally:
            for image_id in images:
                with contextlib.suppress(Exception):
                    self.api.delete(image_id)
            source.unlink(missing_ok=True)

    # -- py-spy -------------------------------------------------------------------
    def profile(self, size_mib: int, seed: int, keep_as: str) -> dict[str, Any]:
        """One more warm upload and download (not counted), each under py-spy."""
        source = self.work / f"profile-{size_mib}.img"
        write_source(source, size_mib * MIB, seed)
        out: dict[str, Any] = {}
        image_id = self.api.create(f"bench-profile-{size_mib}")
        try:
            for op, action in (("upload", lambda: self.api.upload(image_id, source)),
                               ("download", lambda: self.api.download(image_id))):
                raw = self.work / f"py-spy-{op}.txt"
                command = [str(PY_SPY), "record", "-p", str(self.server.pid),
                           "-d", str(PROFILE_SECONDS), "-f", "raw", "-o", str(raw),
                           "--nonblocking", "--threads"]
                with subprocess.Popen(command, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT) as spy:
                    time.sleep(1.0)  # let py-spy attach before the transfer starts
                    began = time.perf_counter()
                    action()
                    seconds = time.perf_counter() - began
                    try:
                        spy.wait(timeout=PROFILE_SECONDS + 60)
                    except subprocess.TimeoutExpired:
                        spy.kill()
                        spy.wait(timeout=10)
                summary = summarize_raw(raw.read_text() if raw.exists() else "")
                summary["transfer_s"] = round(seconds, 2)
                summary["command"] = command
                out[op] = summary
                RESULTS.mkdir(parents=True, exist_ok=True)
                if raw.exists():
                    kept = RESULTS / f"{keep_as}-py-spy-{op}.txt"
                    shutil.copyfile(raw, kept)
                    summary["raw"] = str(kept)
                    raw.unlink()
        finally:
            with contextlib.suppress(Exception):
                self.api.delete(image_id)
            source.unlink(missing_ok=True)
        return out


def summarize_raw(text: str, top: int = 12) -> dict[str, Any]:
    """py-spy's raw (collapsed) stacks: samples per thread, busiest leaf lines."""
    leaves: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        # with --threads the first frame names the thread: "thread (TID): NAME"; the
        # MainThread runs the event loop, "AnyIO worker thread"s run the handlers
        threads[frames[0] if frames[0].startswith("thread") else "?"] += count
        leaves[frames[-1]] += count
        total += count
    share = (lambda n: round(100 * n / total, 1)) if total else (lambda n: 0.0)
    return {"samples": total,
            "threads": [{"thread": t, "percent": share(n)} for t, n in threads.most_common()],
            "top_leaves": [{"frame": f, "percent": share(n)} for f, n in leaves.most_common(top)]}


# -- reporting ---------------------------------------------------------------------------

def best(timings: list[Timed], op: str, size_mib: int, cache: str) -> Timed | None:
    """The fastest run of an operation (the machine may be shared: the least disturbed)."""
    found = [t for t in timings if (t.op, t.size_mib, t.cache) == (op, size_mib, cache)]
    return min(found, key=lambda t: t.seconds) if found else None


def ratios(timings: list[Timed], size_mib: int, cache: str) -> dict[str, float | None]:
    def mib_s(op: str) -> float | None:
        found = best(timings, op, size_mib, cache)
        return None if found is None else found.mib_s

    up, down = mib_s("upload"), mib_s("download")
    copy, copy_sync, read = mib_s("copy"), mib_s("copy+fsync"), mib_s("read")
    copy_hash = mib_s("copy+hash")

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(a / b, 3)

    return {"upload_vs_copy": ratio(up, copy), "download_vs_copy": ratio(down, copy),
            "upload_vs_copy_fsync": ratio(up, copy_sync),
            "upload_vs_copy_hash": ratio(up, copy_hash), "download_vs_read": ratio(down, read)}


def throughput_table(timings: list[Timed], sizes: list[int]) -> str:
    rows: list[list[object]] = []
    for size in sizes:
        for cache in ("cold", "warm"):
            copy = best(timings, "copy", size, cache)
            for op in ("copy", "copy+fsync", "copy+hash", "read", "upload", "download"):
                found = best(timings, op, size, cache)
                if found is None:
                    continue
                runs = [t for t in timings if (t.op, t.size_mib, t.cache) == (op, size, cache)]
                cpu = found.cpu
                rows.append([
                    size, op, cache, len(runs), f"{found.seconds:.2f}",
                    f"{found.mib_s:.0f}",
                    "" if copy is None else f"{found.mib_s / copy.mib_s:.2f}",
                    "" if cpu is None else f"{cpu.server:.2f}",
                    "" if cpu is None else f"{cpu.ours:.2f}",
                    "" if cpu is None else f"{cpu.irq:.2f}",
                    "" if cpu is None else f"{cpu.other + cpu.mariadb:.2f}"])
    return markdown_table(["MiB", "operation", "cache", "runs", "best s", "MiB/s",
                           "÷ copy", "server cores", "client cores", "irq cores",
                           "other cores"], rows)


def rss_table(bench: Bench, sizes: list[int]) -> str:
    rows: list[list[object]] = []
    for size in sizes:
        for op in ("upload", "download"):
            runs = [t for t in bench.timings
                    if (t.op, t.size_mib) == (op, size) and t.rss is not None]
            if not runs:
                continue
            peaks = [t.rss.peak_kb for t in runs if t.rss is not None]
            starts = [t.rss.start_kb for t in runs if t.rss is not None]
            samples = [len(t.rss.samples) for t in runs if t.rss is not None]
            rows.append([size, op, len(runs), mib(bench.idle_rss_kb.get(size, 0)),
                         mib(min(starts)), mib(max(peaks)),
                         f"{mib(max(peaks) - min(starts)):+}", sum(samples)])
    return markdown_table(["MiB", "transfer", "runs", "idle RSS MiB", "RSS at start MiB",
                           "peak RSS MiB", "peak - start MiB", "samples"], rows)


def peak_of(bench: Bench, op: str, size: int) -> int:
    return max((t.rss.peak_kb for t in bench.timings
                if (t.op, t.size_mib) == (op, size) and t.rss is not None), default=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024,
                        help="image size for the throughput figure (default 1024)")
    parser.add_argument("--small-mib", type=int, default=256,
                        help="the smaller image for the RSS comparison (default 256)")
    parser.add_argument("--quick", action="store_true", help="256 MiB (and 64 MiB)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="warm runs of each operation; the fastest counts (default 2)")
    parser.add_argument("--profile", action="store_true",
                        help=f"py-spy the server for {PROFILE_SECONDS} s during one more "
                        "upload and download of the large image")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()),
                        help="where the data dir and temporary files go (default: $TMPDIR)")
    parser.add_argument("--seed", type=int, default=20261124)
    args = parser.parse_args(argv)
    if args.quick:
        args.size_mib, args.small_mib = 256, 64
    if not 1 <= args.small_mib < args.size_mib <= 64 * 1024 or not 1 <= args.repeat <= 10:
        parser.error("need 1 <= --small-mib < --size-mib <= 65536 and 1 <= --repeat <= 10")
    sizes = [args.small_mib, args.size_mib]

    work = Path(tempfile.mkdtemp(prefix="labs-bench-image-", dir=args.dir))
    need = (3 * args.size_mib + 1024) * MIB  # source, copy, image, and room
    if shutil.disk_usage(work).free < need:
        shutil.rmtree(work, ignore_errors=True)
        parser.error(f"{work} has less than {need // MIB} MiB free")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)

    started = datetime.now(UTC)
    info = machine()
    info.pop("wrk", None)
    report: dict[str, Any] = {
        "benchmark": "image", "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": [Path(sys.executable).name, *sys.argv],
        "machine": info, "disk": mount_of(work),
        "sizes_mib": sizes, "repeat": args.repeat, "chunk_bytes": CHUNK,
        "aims": {"ratio": AIM_RATIO, "flat_mib": FLAT_MIB},
        "loadavg_before": os.getloadavg(),
    }
    server = Server(work / "data", quota_bytes=64 * args.size_mib * MIB)
    api: ImageApi | None = None
    ok = False
    try:
        server.start()
        report["server"] = {"command": server.command, "started_in_s":
                            round(server.started_in_s, 2), "pid": server.pid}
        api = ImageApi(server.base_url, server.token())
        bench = Bench(server, api, work, args.repeat)
        # warm the server's code paths and thread pool before anything is measured
        warm = work / "warmup.img"
        write_source(warm, 8 * MIB, args.seed)
        warm_id = api.create("bench-warmup")
        api.upload(warm_id, warm)
        api.download(warm_id)
        api.delete(warm_id)
        warm.unlink()
        report["server"]["threads_after_warmup"] = threads_of(server.pid)

        verified = [bench.run_size(size, args.seed + size) for size in sizes]
        report["server"]["threads_at_end"] = threads_of(server.pid)
        if args.profile:
            print(f"profiling {args.size_mib} MiB with py-spy", flush=True)
            report["profile"] = bench.profile(
                args.size_mib, args.seed, f"image-{started.strftime('%Y%m%dT%H%M%SZ')}")
        ok = all(verified)
    finally:
        if api is not None:
            api.close()
        server.stop()
        log_tail = server.log_tail()
        shutil.rmtree(work, ignore_errors=True)
    report["loadavg_after"] = os.getloadavg()
    report["server"]["log_tail"] = log_tail

    big, small = args.size_mib, args.small_mib
    figures = {f"{size}_{cache}": ratios(bench.timings, size, cache)
               for size in sizes for cache in ("warm", "cold")}
    headline = figures[f"{big}_warm"]
    growth_kb = peak_of(bench, "upload", big) - peak_of(bench, "upload", small)
    down_growth_kb = peak_of(bench, "download", big) - peak_of(bench, "download", small)
    verdict = {
        "upload_ratio": headline["upload_vs_copy"],
        "download_ratio": headline["download_vs_copy"],
        "upload_ratio_met": (headline["upload_vs_copy"] or 0) >= AIM_RATIO,
        "download_ratio_met": (headline["download_vs_copy"] or 0) >= AIM_RATIO,
        "upload_peak_rss_mib": {str(s): mib(peak_of(bench, "upload", s)) for s in sizes},
        "download_peak_rss_mib": {str(s): mib(peak_of(bench, "download", s)) for s in sizes},
        "upload_rss_growth_mib": mib(growth_kb),
        "download_rss_growth_mib": mib(down_growth_kb),
        "rss_flat": growth_kb <= FLAT_MIB * 1024,
        "verified": ok,
    }
    report.update(figures=figures, verdict=verdict, checks=bench.checks, quiet=bench.quiet,
                  timings=[t.to_json() for t in bench.timings],
                  median_warm_mib_s={f"{op}_{s}": round(statistics.median(
                      t.mib_s for t in bench.timings
                      if (t.op, t.size_mib, t.cache) == (op, s, "warm")), 1)
                      for op in ("copy", "copy+fsync", "read", "upload", "download")
                      for s in sizes})

    print()
    print(f"## Image data path: {big} MiB and {small} MiB images, best of {args.repeat} "
          f"warm runs (and 1 cold)\n")
    print(throughput_table(bench.timings, sizes))
    print("\n÷ copy: throughput divided by that of shutil.copyfile of the same file, "
          "same cache state. copy+hash: a Python copy that also computes md5 and "
          f"{HASH_ALGO} (in two threads, as the server) and fsyncs: the server's work "
          "without HTTP.\n")
    print(f"## Server RSS during transfers (sampled every {int(RSS_INTERVAL_S * 1000)} ms, "
          "and VmHWM)\n")
    print(rss_table(bench, sizes))
    print(f"\n- upload {big} MiB, warm: {headline['upload_vs_copy']} of the copy "
          f"({headline['upload_vs_copy_fsync']} of copy+fsync, "
          f"{headline['upload_vs_copy_hash']} of copy+hash); aim {AIM_RATIO}: "
          f"{'met' if verdict['upload_ratio_met'] else 'NOT met'}")
    print(f"- download {big} MiB, warm: {headline['download_vs_copy']} of the copy "
          f"({headline['download_vs_read']} of a read to /dev/null); aim {AIM_RATIO}: "
          f"{'met' if verdict['download_ratio_met'] else 'NOT met'}")
    print(f"- peak RSS during upload: {verdict['upload_peak_rss_mib']} MiB; {big} MiB vs "
          f"{small} MiB: {verdict['upload_rss_growth_mib']:+} MiB "
          f"({'flat' if verdict['rss_flat'] else 'NOT flat'}, aim <= {FLAT_MIB} MiB)")
    print(f"- data verified (sha256, md5, sha512, checksum, os_hash_value): "
          f"{'yes' if ok else 'NO'}")
    for op, summary in report.get("profile", {}).items():
        print(f"\n## py-spy, {op} ({summary['samples']} samples, transfer "
              f"{summary['transfer_s']} s)\n")
        print(markdown_table(["%", "thread"], [[t["percent"], f"`{t['thread']}`"]
                                               for t in summary["threads"][:6]]))
        print()
        print(markdown_table(["%", "leaf frame"], [[t["percent"], f"`{t['frame']}`"]
                                                   for t in summary["top_leaves"]]))

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"image-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {path}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
