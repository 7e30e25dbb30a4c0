"""Benchmark `labs serve identity` (2 workers, MariaDB) with wrk.

Measures password-token issue, token validate and ``GET /v3/projects``
(requests/s, p50/p99) at 8 and 32 connections, the cold start to the first
token, the peak RSS of the server's process tree, and the bcrypt bound on
token issue on this machine. See bench/README.md.

    .venv/bin/python bench/identity.py           # 6-15 minutes
    .venv/bin/python bench/identity.py --quick   # 2-4 minutes

Runs are repeated (at most 3 times) when other processes on the machine use
CPU meanwhile; each table row shows where the CPU went during the run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from types import FrameType
from typing import Any

import bcrypt
import httpx
import pymysql
import yaml

from _load import (
    CpuMeter,
    CpuShare,
    Load,
    RssSampler,
    WrkResult,
    free_port,
    machine,
    markdown_table,
    run_wrk,
)

ROOT = Path(__file__).resolve().parent.parent
LABS = Path(sys.executable).with_name("labs")
RESULTS = Path(__file__).resolve().parent / "results"
PREFIX = "/identity/v3"
HASH_ROUNDS = 12  # Keystone's default and Labs' default; the issue figure needs it.
CONNECTIONS = (8, 32)

#: What the issue asks of Labs (and what Keystone 30 measured on this kind of machine).
AIM_VALIDATE = 2000.0
AIM_PROJECTS = 1000.0
AIM_ISSUE_FRACTION = 0.9
KEYSTONE = {"issue": 4.6, "validate": 4.5, "projects": 17.0, "rss_mb": 280.0}

#: A run during which other processes used more cores than this is repeated, up to
#: ATTEMPTS times; the least disturbed attempt is kept (this machine may be shared).
NOISY = 0.15
ATTEMPTS = 3


# -- MariaDB --------------------------------------------------------------------------

@dataclass(frozen=True)
class MariaDB:
    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = ""

    def url(self, database: str) -> str:
        auth = self.user + (f":{self.password}" if self.password else "")
        return f"mysql+pymysql://{auth}@{self.host}:{self.port}/{database}"

    def execute(self, statement: str) -> None:
        conn = pymysql.connect(host=self.host, port=self.port, user=self.user,
                               password=self.password, connect_timeout=10)
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement)
        finally:
            conn.close()

    def version(self) -> str:
        conn = pymysql.connect(host=self.host, port=self.port, user=self.user,
                               password=self.password, connect_timeout=10)
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT VERSION()")
                row = cursor.fetchone()
                return str(row[0]) if row else "unknown"
        finally:
            conn.close()

    @contextlib.contextmanager
    def scratch_database(self) -> Iterator[str]:
        """A fresh, empty database, dropped afterwards whatever happens."""
        name = f"labs_bench_{secrets.token_hex(6)}"
        self.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        try:
            yield name
        finally:
            self.execute(f"DROP DATABASE IF EXISTS `{name}`")


# -- the server -----------------------------------------------------------------------

def _stop_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@dataclass
class Server:
    """One `labs serve identity` process tree on a loopback port."""

    data_dir: Path
    db_url: str
    workers: int
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def command(self) -> list[str]:
        return [str(LABS), "serve", "identity", "--data-dir", str(self.data_dir),
                "--bind", f"127.0.0.1:{self.port}", "--db", self.db_url,
                "--workers", str(self.workers)]

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LABS_")}
        env["LABS_IDENTITY_PASSWORD_HASH_ROUNDS"] = str(HASH_ROUNDS)
        self.log_path = self.data_dir / "server.log"
        with self.log_path.open("wb") as log:
            self.started_at = time.perf_counter()
            self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env, cwd=self.data_dir,
                                         start_new_session=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM to the supervisor (it stops its workers); SIGKILL the group if it hangs."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=20)
        # The session we started is its own process group: take down stragglers.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


def auth_body(password: str) -> dict[str, Any]:
    domain = {"name": "Default"}
    return {"auth": {
        "identity": {"methods": ["password"],
                     "password": {"user": {"name": "admin", "domain": domain,
                                           "password": password}}},
        "scope": {"project": {"name": "admin", "domain": domain}}}}


def admin_password(data_dir: Path) -> str | None:
    path = data_dir / "clouds.yaml"
    if not path.exists():
        return None
    try:
        clouds = yaml.safe_load(path.read_text()) or {}
        return str(clouds["clouds"]["labs"]["auth"]["password"])
    except (yaml.YAMLError, KeyError, TypeError):
        return None  # being written


def issue_token(client: httpx.Client, base_url: str, password: str) -> str:
    reply = client.post(base_url + PREFIX + "/auth/tokens", json=auth_body(password))
    if reply.status_code != 201:
        raise RuntimeError(f"token issue answered {reply.status_code}: {reply.text[:300]}")
    return reply.headers["x-subject-token"]


@dataclass
class ColdStart:
    bootstrapped_s: float  # clouds.yaml written: migrations, bootstrap, bcrypt of 2 users
    first_token_s: float  # a POST /v3/auth/tokens answered 201
    attempts: int


def wait_for_first_token(server: Server, limit_s: float = 180.0) -> tuple[ColdStart, str]:
    """Poll from process start until a token is issued; bounded in time and tries."""
    deadline = time.perf_counter() + limit_s
    password = None
    bootstrapped = 0.0
    attempts = 0
    with httpx.Client(timeout=30.0) as client:
        for _ in range(20000):
            if time.perf_counter() > deadline:
                break
            if not server.alive():
                raise RuntimeError(f"the server exited:\n{server.log_tail()}")
            if password is None:
                password = admin_password(server.data_dir)
                if password is None:
                    time.sleep(0.01)
                    continue
                bootstrapped = time.perf_counter() - server.started_at
            attempts += 1
            try:
                reply = client.post(server.base_url + PREFIX + "/auth/tokens",
                                    json=auth_body(password))
            except httpx.TransportError:
                time.sleep(0.01)
                continue
            if reply.status_code == 201:
                elapsed = time.perf_counter() - server.started_at
                return ColdStart(round(bootstrapped, 3), round(elapsed, 3), attempts), password
            raise RuntimeError(f"first token issue answered {reply.status_code}: "
                               f"{reply.text[:300]}")
    raise RuntimeError(f"no token within {limit_s:g}s:\n{server.log_tail()}")


# -- the bcrypt bound ---------------------------------------------------------------

def _bcrypt_worker(hashed: bytes, start_at: float, seconds: float) -> tuple[int, float, float]:
    """checkpw in a loop from ``start_at`` (wall clock) for ``seconds``.

    Returns (checks, wall seconds, CPU seconds of this process).
    """
    time.sleep(max(0.0, start_at - time.time()))
    began, cpu_began = time.perf_counter(), time.process_time()
    count = 0
    while count < 100000 and time.perf_counter() - began < seconds:
        if not bcrypt.checkpw(b"benchmark-password", hashed):
            raise RuntimeError("bcrypt check failed")
        count += 1
    return count, time.perf_counter() - began, time.process_time() - cpu_began


def bcrypt_bound(processes: int, seconds: float) -> dict[str, Any]:
    """bcrypt(cost 12) checks/s with ``processes`` processes in parallel.

    ``checks_per_s`` is by the wall clock; ``checks_per_cpu_s`` counts only the
    CPU time the processes got, which is what they would do on CPUs of their own
    (while other work on the machine takes turns on the same CPUs).
    """
    hashed = bcrypt.hashpw(b"benchmark-password", bcrypt.gensalt(HASH_ROUNDS))
    start_at = time.time() + 2.0  # after the spawned interpreters are up
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_bcrypt_worker, hashed, start_at, seconds)
                   for _ in range(processes)]
        done = [f.result(timeout=seconds + 120) for f in futures]
    wall_rate = sum(count / wall for count, wall, _cpu in done)
    cpu_rate = sum(count / cpu for count, _wall, cpu in done if cpu > 0)
    usable = len(os.sched_getaffinity(0))
    bound = max(wall_rate, cpu_rate) if processes <= usable else wall_rate
    return {"rounds": HASH_ROUNDS, "processes": processes, "seconds": seconds,
            "checks": sum(c for c, _w, _c in done), "checks_per_s": round(wall_rate, 2),
            "checks_per_cpu_s": round(cpu_rate, 2), "bound_per_s": round(bound, 2),
            "ms_per_check_per_process": round(1000 * processes / bound, 1)}


# -- the run --------------------------------------------------------------------------

def loads(password: str, auth_token: str, subject_token: str) -> list[Load]:
    json_type = {"Content-Type": "application/json"}
    return [
        Load("issue", "POST", PREFIX + "/auth/tokens", json_type,
             json.dumps(auth_body(password), separators=(",", ":"))),
        Load("validate", "GET", PREFIX + "/auth/tokens",
             {"X-Auth-Token": auth_token, "X-Subject-Token": subject_token}),
        Load("projects", "GET", PREFIX + "/projects", {"X-Auth-Token": auth_token}),
    ]


def check_loads(client: httpx.Client, base_url: str, all_loads: list[Load]) -> None:
    """Each load answers what we expect before wrk hammers it."""
    expected = {"issue": 201, "validate": 200, "projects": 200}
    for load in all_loads:
        reply = client.request(load.method, base_url + load.path, headers=dict(load.headers),
                               content=load.body)
        if reply.status_code != expected[load.name]:
            raise RuntimeError(f"{load.name} answered {reply.status_code}: {reply.text[:300]}")
        if load.name == "projects" and len(reply.json()["projects"]) < 2:
            raise RuntimeError("project list should hold admin and demo")


def _git(*args: str) -> str:
    """A read-only git query about the tree under test."""
    proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                          check=False, timeout=10)
    return proc.stdout.strip()


def source_state() -> dict[str, Any]:
    """The commit measured, and the files under src/ that differ from it."""
    changed = _git("diff", "--name-only", "HEAD", "--", "src").splitlines()
    return {"commit": _git("rev-parse", "HEAD") or "unknown", "src_changed": changed}


@dataclass
class Run:
    """One wrk run with what else the machine did meanwhile."""

    wrk: WrkResult
    cpu: CpuShare
    waited_for_quiet_s: float
    before: CpuShare
    discarded: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**self.wrk.to_json(), "cpu_cores": self.cpu.to_json(),
                "waited_for_quiet_s": round(self.waited_for_quiet_s, 1),
                "cpu_cores_before": self.before.to_json(),
                "attempts": 1 + len(self.discarded), "discarded": self.discarded}


@dataclass
class Row:
    """One load at one concurrency: its repeated runs, reported by the median one."""

    load: str
    connections: int
    runs: list[Run]

    @property
    def ok(self) -> bool:
        return all(run.wrk.ok for run in self.runs)

    @property
    def median(self) -> Run:
        ordered = sorted(self.runs, key=lambda run: run.wrk.requests_per_s)
        return ordered[(len(ordered) - 1) // 2]

    @property
    def rates(self) -> list[float]:
        return [run.wrk.requests_per_s for run in self.runs]

    @property
    def errors(self) -> int:
        return sum(run.wrk.errors for run in self.runs)

    def to_json(self) -> dict[str, Any]:
        m = self.median.wrk
        return {"load": self.load, "connections": self.connections, "ok": self.ok,
                "requests_per_s": m.requests_per_s, "requests_per_s_runs": self.rates,
                "p50_ms": m.p50_ms, "p99_ms": m.p99_ms, "errors": self.errors,
                "runs": [run.to_json() for run in self.runs]}


def verdicts(rows: list[Row], bound: float) -> list[str]:
    lines = []
    for row in rows:
        rate = row.median.wrk.requests_per_s
        if not row.ok:
            lines.append(f"{row.load} @ {row.connections}: FAILED ({row.errors} errors)")
        elif row.load == "issue":
            frac = rate / bound
            lines.append(f"issue @ {row.connections}: {rate:.2f}/s = {frac:.1%} of the bcrypt "
                         f"bound {bound:.2f}/s -> aim >= {AIM_ISSUE_FRACTION:.0%} "
                         f"{'met' if frac >= AIM_ISSUE_FRACTION else 'NOT met'}")
        else:
            aim = AIM_VALIDATE if row.load == "validate" else AIM_PROJECTS
            lines.append(f"{row.load} @ {row.connections}: {rate:,.0f}/s (median of "
                         f"{len(row.runs)}) -> aim >= {aim:,.0f}/s "
                         f"{'met' if rate >= aim else 'NOT met'}")
    return lines


def role_of(command: str) -> str:
    """What a process of the server's tree is, from its command line."""
    if "resource_tracker" in command:
        return "resource tracker"
    if "spawn_main" in command or "multiprocessing" in command:
        return "worker"
    if "serve" in command:
        return "supervisor"
    return command[:40]


def split(cpu: CpuShare) -> str:
    return " + ".join(f"{v:.2f}" for v in cpu.server_split)


def _bcrypt_line(result: dict[str, Any]) -> str:
    return (f"{result['bound_per_s']:.2f}/s ({result['ms_per_check_per_process']:.0f} ms a "
            f"check; by the clock {result['checks_per_s']:.2f}/s with other load "
            f"{result['cpu_cores']['other']:.2f} cores)")


def report(out: dict[str, Any], rows: list[Row]) -> str:
    bound = out["bcrypt_bound"]["bound_per_s"]
    lines = []
    for row in rows:
        run = row.median
        r, cpu = run.wrk, run.cpu
        rate = f"{r.requests_per_s:,.1f}" if row.ok else "FAILED"
        spread = ("" if len(row.runs) == 1 else
                  f"{min(row.rates):,.0f}-{max(row.rates):,.0f}")
        note = f"{r.requests_per_s / bound:.1%} of bcrypt bound" if r.load == "issue" else ""
        lines.append([r.load, r.connections, f"{r.duration_s:.0f}", len(row.runs), rate, spread,
                      f"{r.p50_ms:,.1f}", f"{r.p99_ms:,.1f}", row.errors,
                      f"{r.requests_per_s / KEYSTONE[r.load]:,.0f}x" if row.ok else "-",
                      f"{cpu.server:.2f} ({split(cpu)}) / {cpu.mariadb:.2f} / {cpu.ours:.2f} / "
                      f"{cpu.irq:.2f} / {cpu.other:.2f}", note])
    table = markdown_table(
        ["benchmark", "conns", "s", "runs", "requests/s (median)", "range", "p50 ms",
         "p99 ms", "errors", "vs Keystone",
         "CPU cores: server (per worker) / MariaDB / wrk / irq / other", "note"], lines)
    cold, rss = out["cold_start"], out["rss"]
    extra = markdown_table(["measure", "value"], [
        ["cold start: process start -> clouds.yaml written (bootstrap done)",
         f"{cold['bootstrapped_s']:.2f} s"],
        ["cold start: process start -> first token issued",
         f"{cold['first_token_s']:.2f} s (other load {cold['cpu_cores']['other']:.2f} "
         "cores meanwhile)"],
        ["peak RSS, serve process + workers (sampled sum of VmRSS)",
         f"{rss['peak_mb']:.0f} MB ({rss['processes']} processes)"],
        ["... of which", ", ".join(f"{role_of(p['command'])} {p['rss_mb']:.0f} MB"
                                   for p in rss["at_peak"])],
        ["sum of per-process VmHWM (upper bound)", f"{rss['hwm_sum_mb']:.0f} MB"],
        [f"bcrypt cost {HASH_ROUNDS} checks/s, 1 process", _bcrypt_line(out["bcrypt_single"])],
        [f"bcrypt cost {HASH_ROUNDS} checks/s, {out['bcrypt_bound']['processes']} processes "
         "in parallel (the issue bound)", _bcrypt_line(out["bcrypt_bound"])],
    ])
    return "\n\n".join([table, extra, "\n".join(verdicts(rows, bound))])


def issue_seconds(duration: float, connections: int, bound: float) -> int:
    """Long enough for 40 rounds of ``connections`` bcrypt checks, within bounds.

    A token issue takes seconds at 32 connections; the requests in flight when
    wrk stops are lost to the count, which undercounts issue/s by about
    connections / 2 / (rate * seconds): under 1.5 % at 40 rounds (at 20 it was
    about 3 %, as much as the margin the aim leaves).
    """
    return math.ceil(min(max(3 * duration, 40 * connections / bound), 20 * duration))


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure_bcrypt(meter: CpuMeter, processes: int, seconds: float) -> dict[str, Any]:
    """The bcrypt bound, repeated (bounded) while other people's work disturbs it.

    Other work can only slow bcrypt down, so the fastest attempt is kept: the
    bound is then as high as this machine allows, and issue/s as a fraction of
    it errs low, not high.
    """
    tries: list[dict[str, Any]] = []
    for _ in range(ATTEMPTS):
        waited, before = meter.wait_quiet()
        note(f"bcrypt cost {HASH_ROUNDS}, {processes} process(es), {seconds:g}s "
             f"(waited {waited:.0f}s for a quiet machine; other load {before.other:.2f} cores)")
        meter.start()
        bound = bcrypt_bound(processes, seconds)
        cpu = meter.stop()
        tries.append({**bound, "cpu_cores": cpu.to_json(), "waited_for_quiet_s": round(waited)})
        note(f"  {bound['checks_per_s']:.2f} checks/s by the clock, "
             f"{bound['checks_per_cpu_s']:.2f} per CPU-second; other load {cpu.other:.2f} cores")
        if cpu.other <= NOISY:
            break
    best = max(tries, key=lambda t: float(t["bound_per_s"]))
    return {**best, "attempts": len(tries), "discarded": [t for t in tries if t is not best]}


def measure_load(server: Server, meter: CpuMeter, load: Load, connections: int,
                 seconds: float) -> Run:
    """One wrk run, repeated (bounded) while other people's work disturbs it."""
    tries: list[Run] = []
    for _ in range(ATTEMPTS):
        waited, before = meter.wait_quiet()
        if not server.alive():
            raise RuntimeError(f"the server exited:\n{server.log_tail()}")
        note(f"wrk: {load.name} with {connections} connections for {seconds:g}s "
             f"(waited {waited:.0f}s for a quiet machine; other load {before.other:.2f} cores)")
        meter.start()
        result = run_wrk(server.base_url, load, connections=connections,
                         duration_s=seconds, timeout_s=60.0)
        run = Run(result, meter.stop(), waited, before)
        tries.append(run)
        note(f"  {result.requests_per_s:,.1f}/s p50 {result.p50_ms:.1f} ms "
             f"p99 {result.p99_ms:.1f} ms errors {result.errors}; cores: server "
             f"{run.cpu.server:.2f} ({split(run.cpu)}) mariadb {run.cpu.mariadb:.2f} "
             f"wrk {run.cpu.ours:.2f} irq {run.cpu.irq:.2f} other {run.cpu.other:.2f}")
        if run.cpu.other <= NOISY or not result.ok:
            break
    chosen = min(tries, key=lambda r: r.cpu.other)
    chosen.discarded = [r.to_json() for r in tries if r is not chosen]
    return chosen


def measure(server: Server, meter: CpuMeter, all_loads: list[Load], out: dict[str, Any],
            duration: float, issue_duration: float | None, workers: int,
            repeats: int) -> list[Row]:
    """The bcrypt bound, then every load at every concurrency; fills ``out``.

    Token issue runs once (long); the others ``repeats`` times, since how the
    kernel hands the keep-alive connections to the workers varies from run to run.
    """
    bcrypt_seconds = max(duration, 6.0)
    out["bcrypt_single"] = measure_bcrypt(meter, 1, bcrypt_seconds)
    out["bcrypt_bound"] = measure_bcrypt(meter, workers, bcrypt_seconds)
    bound = float(out["bcrypt_bound"]["bound_per_s"])
    rows: list[Row] = []
    for load in all_loads:
        for connections in CONNECTIONS:
            seconds: float = duration
            times = repeats
            if load.name == "issue":
                seconds = issue_duration or issue_seconds(duration, connections, bound)
                times = 1
            rows.append(Row(load.name, connections, [
                measure_load(server, meter, load, connections, seconds)
                for _ in range(times)]))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true",
                    help="3 s per run, each load once (default: 10 s, 3 times)")
    ap.add_argument("--duration", type=float, help="seconds per wrk run (default 10, quick 3)")
    ap.add_argument("--repeats", type=int,
                    help="runs of validate and project list per concurrency (default 3, "
                    "quick 1); the median is reported")
    ap.add_argument("--issue-duration", type=float,
                    help="seconds per token-issue run (default: enough for 40 rounds of "
                    "bcrypt checks at the bound, between 3x and 20x --duration)")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument("--db-host", default="127.0.0.1")
    ap.add_argument("--db-port", type=int, default=3306)
    ap.add_argument("--db-user", default="root")
    args = ap.parse_args(argv)
    duration = args.duration or (3.0 if args.quick else 10.0)
    repeats = max(1, min(args.repeats or (1 if args.quick else 3), 10))
    if args.db_host not in ("127.0.0.1", "localhost", "::1"):
        ap.error("the benchmark stays on loopback")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)

    db = MariaDB(args.db_host, args.db_port, args.db_user)
    out: dict[str, Any] = {
        "benchmark": "identity",
        "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join([".venv/bin/python", "bench/identity.py",
                             *(sys.argv[1:] if argv is None else argv)]),
        "source": source_state(), "machine": {**machine(), "mariadb": db.version()},
        "settings": {"workers": args.workers, "duration_s": duration, "repeats": repeats,
                     "issue_duration_s": args.issue_duration,
                     "connections": list(CONNECTIONS), "wrk_threads": 1,
                     "password_hash_rounds": HASH_ROUNDS, "noisy_other_cores": NOISY,
                     "attempts": ATTEMPTS},
        "keystone_reference": KEYSTONE,
        "aims": {"validate_per_s": AIM_VALIDATE, "projects_per_s": AIM_PROJECTS,
                 "issue_fraction_of_bcrypt_bound": AIM_ISSUE_FRACTION},
    }
    with (tempfile.TemporaryDirectory(prefix="labs-bench-identity-") as tmp,
          db.scratch_database() as database):
        server = Server(Path(tmp), db.url(database), args.workers)
        out["server_command"] = " ".join(server.command)
        sampler: RssSampler | None = None
        try:
            note(f"starting: {out['server_command']}")
            server.start()
            assert server.proc is not None
            meter = CpuMeter(server.proc.pid)
            meter.start()
            sampler = RssSampler(server.proc.pid)
            sampler.start()
            cold, password = wait_for_first_token(server)
            out["cold_start"] = {**asdict(cold), "cpu_cores": meter.stop().to_json()}
            note(f"first token after {cold.first_token_s:.2f}s")
            with httpx.Client(timeout=30.0) as client:
                auth_token = issue_token(client, server.base_url, password)
                subject_token = issue_token(client, server.base_url, password)
                all_loads = loads(password, auth_token, subject_token)
                check_loads(client, server.base_url, all_loads)
            rows = measure(server, meter, all_loads, out, duration, args.issue_duration,
                           args.workers, repeats)
            sampler.stop()
            sampler.sample()
            out["rss"] = {"peak_mb": round(sampler.peak_kb / 1024, 1),
                          "processes": sampler.peak_processes,
                          "hwm_sum_mb": round(sampler.hwm_sum_kb / 1024, 1),
                          "samples": sampler.samples, "at_peak": sampler.peak_breakdown}
            out["server_log_tail"] = server.log_tail(10)
        finally:
            if sampler is not None:
                sampler.stop()
            server.stop()
    out["results"] = [row.to_json() for row in rows]
    out["ok"] = all(row.ok for row in rows)
    out["verdicts"] = verdicts(rows, out["bcrypt_bound"]["bound_per_s"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"identity-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(report(out, rows))
    print(f"\nresults: {path.relative_to(ROOT)}")
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
