"""Helpers shared by the Labs benchmarks: wrk runs, process-tree memory, the machine.

Everything here stays on the loopback interface and every loop is bounded in
both count and time.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

WRK = shutil.which("wrk") or "/usr/bin/wrk"
#: The line our Lua ``done`` hook prints, followed by a JSON object.
MARKER = "LABS_BENCH_JSON "


# -- wrk ----------------------------------------------------------------------

@dataclass(frozen=True)
class Load:
    """One kind of request wrk sends over and over."""

    name: str
    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None


@dataclass
class WrkResult:
    """What one wrk run measured; ``ok`` is False when any request failed."""

    load: str
    connections: int
    duration_s: float
    requests: int
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: dict[str, int]
    ok: bool
    command: list[str]

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "errors": self.errors}


def _lua_string(value: str) -> str:
    """A Lua string literal (JSON's escapes are valid Lua escapes for this ASCII text)."""
    if not value.isascii():
        raise ValueError("wrk scripts here carry ASCII only")
    return json.dumps(value)


def lua_script(load: Load) -> str:
    """A wrk script that sends ``load`` and prints a JSON summary when done."""
    lines = [f"wrk.method = {_lua_string(load.method)}"]
    if load.body is not None:
        lines.append(f"wrk.body = {_lua_string(load.body)}")
    for name, value in load.headers.items():
        lines.append(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}")
    lines.append(f"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{MARKER}{{"duration_us":%.0f,"requests":%.0f,"bytes":%.0f,' ..
    '"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f,' ..
    '"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"mean_us":%.1f,"max_us":%.0f}}\\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
""")
    return "\n".join(lines)


def run_wrk(base_url: str, load: Load, *, connections: int, duration_s: float,
            threads: int = 1, timeout_s: float = 30.0) -> WrkResult:
    """Run wrk once (closed loop, ``connections`` keep-alive connections).

    wrk takes whole seconds only, so ``duration_s`` is rounded up. Mind that
    wrk 4 "corrects" its latency histogram for coordinated omission before
    reporting it (wrk.c, ``stats_correct``): every response slower than twice
    the mean interval per connection adds synthetic samples, so the mean and
    the high percentiles are above the raw closed-loop latencies when the tail
    is long. requests/s is the plain count of completed responses.
    """
    seconds = max(1, math.ceil(duration_s))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="labs-bench-",
                                     delete=False) as handle:
        handle.write(lua_script(load))
        script = handle.name
    command = [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
               f"--timeout={math.ceil(timeout_s)}s", "--latency", "-s", script,
               base_url + load.path]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, check=False,
                              timeout=seconds + timeout_s + 30)
    finally:
        os.unlink(script)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()}\n"
                           f"{proc.stdout.strip()}")
    return parse_wrk(proc.stdout, load.name, connections, command)


def _text_number(pattern: str, text: str) -> float | None:
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else None


def parse_wrk(stdout: str, load: str, connections: int, command: Sequence[str]) -> WrkResult:
    """Read our Lua summary line; cross-check it against wrk's own text."""
    data: dict[str, float] | None = None
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER):])
    if data is None:
        raise RuntimeError(f"no summary in wrk output:\n{stdout}")
    duration = data["duration_us"] / 1e6
    requests = int(data["requests"])
    rate = requests / duration if duration > 0 else 0.0
    text_rate = _text_number(r"^Requests/sec:\s+([\d.]+)", stdout)
    if text_rate is not None and abs(text_rate - rate) > max(0.02 * rate, 0.02):
        raise RuntimeError(f"wrk says {text_rate} requests/s, its summary {rate:.2f}")
    non_2xx = int(_text_number(r"Non-2xx or 3xx responses:\s+(\d+)", stdout) or 0)
    non_2xx = max(non_2xx, int(data["status"]))
    sock = {k: int(data[k]) for k in ("connect", "read", "write", "timeout")}
    return WrkResult(
        load=load, connections=connections, duration_s=round(duration, 3), requests=requests,
        requests_per_s=round(rate, 2),
        p50_ms=round(data["p50_us"] / 1000, 2), p90_ms=round(data["p90_us"] / 1000, 2),
        p99_ms=round(data["p99_us"] / 1000, 2), mean_ms=round(data["mean_us"] / 1000, 2),
        max_ms=round(data["max_us"] / 1000, 2), non_2xx=non_2xx, socket_errors=sock,
        ok=requests > 0 and non_2xx == 0 and not any(sock.values()), command=list(command))


def wrk_version() -> str:
    try:
        proc = subprocess.run([WRK, "-v"], capture_output=True, text=True, check=False,
                              timeout=10)
    except FileNotFoundError:
        return "not installed"
    return (proc.stdout or proc.stderr).splitlines()[0].strip() if (
        proc.stdout or proc.stderr) else "unknown"


# -- memory of a process tree -------------------------------------------------------

def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may hold spaces and parentheses.
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (at most 1,000)."""
    children = _children_map()
    found: list[int] = []
    todo = [root]
    while todo and len(found) < 1000:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:200]


class RssSampler:
    """Samples the summed VmRSS of a process tree in a thread; keeps the peak.

    Also remembers each process's VmHWM (its own peak), whose sum bounds the
    tree's peak from above even between samples.
    """

    def __init__(self, root: int, interval_s: float = 0.1, max_s: float = 3600.0) -> None:
        self.root = root
        self.interval_s = interval_s
        self.max_s = max_s
        self.peak_kb = 0
        self.peak_processes = 0
        self.peak_breakdown: list[dict[str, Any]] = []
        self.hwm_kb: dict[int, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def sample(self) -> int:
        pids = process_tree(self.root)
        rss = {pid: _status_kb(pid, "VmRSS") for pid in pids}
        for pid in pids:
            hwm = _status_kb(pid, "VmHWM")
            if hwm:
                self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), hwm)
        total = sum(rss.values())
        if total > self.peak_kb:
            self.peak_kb, self.peak_processes = total, len(pids)
            self.peak_breakdown = [{"pid": pid, "rss_mb": round(kb / 1024, 1),
                                    "command": _cmdline(pid)} for pid, kb in rss.items()]
        self.samples += 1
        return total

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_s
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.sample()
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def hwm_sum_kb(self) -> int:
        return sum(self.hwm_kb.values())


# -- who uses the CPUs ----------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _system_ticks() -> tuple[int, int]:
    """Busy jiffies of all CPUs together, and the part spent in (soft) interrupts.

    Interrupt time is charged to no process; on loopback it is mostly the
    kernel's TCP work for our own requests.
    """
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return user + nice + system + irq + softirq + steal, irq + softirq


def _own_ticks(pid: int) -> int:
    """utime + stime of one process, plus those of its children it has waited for."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    rest = stat[stat.rindex(")") + 2:].split()
    return sum(int(x) for x in rest[11:15])  # utime stime cutime cstime


def pids_named(*names: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                comm = Path(f"/proc/{entry}/comm").read_text().strip()
            except OSError:
                continue
            if comm in names:
                found.append(int(entry))
    return found


@dataclass
class CpuShare:
    """Cores used during a window: by the server, MariaDB, us (the load), interrupts
    (mostly loopback TCP) and every other process."""

    seconds: float
    server: float
    mariadb: float
    ours: float
    irq: float
    other: float
    #: Cores used by each busy process of the server, busiest first: shows how the
    #: kernel spread the keep-alive connections over the workers.
    server_split: tuple[float, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: round(v, 2) for k, v in asdict(self).items()
                               if isinstance(v, float)}
        out["server_split"] = [round(v, 2) for v in self.server_split]
        return out


class CpuMeter:
    """Splits the machine's CPU time over a window between the server and the rest.

    ``ours`` is this process with the children it waited for (wrk, bcrypt workers);
    ``other`` is whatever else runs on the machine (other people's tests, say).
    """

    def __init__(self, server_root: int) -> None:
        self.server_root = server_root
        self.mariadb = pids_named("mariadbd", "mysqld")

    def _snapshot(self) -> tuple[float, int, int, int, int, int]:
        self._per_process = {p: _own_ticks(p) for p in process_tree(self.server_root)}
        server = sum(self._per_process.values())
        mariadb = sum(_own_ticks(p) for p in self.mariadb)
        busy, irq = _system_ticks()
        return (time.monotonic(), busy, irq, server, mariadb, _own_ticks(os.getpid()))

    def start(self) -> None:
        self._begin = self._snapshot()
        self._begin_per_process = self._per_process

    def stop(self) -> CpuShare:
        end = self._snapshot()
        seconds = max(end[0] - self._begin[0], 1e-6)
        busy, irq, server, mariadb, ours = (
            (end[i] - self._begin[i]) / CLK_TCK / seconds for i in range(1, 6))
        other = max(0.0, busy - irq - server - mariadb - ours)
        split = sorted(((ticks - self._begin_per_process.get(pid, ticks)) / CLK_TCK / seconds
                        for pid, ticks in self._per_process.items()), reverse=True)
        return CpuShare(seconds, server, mariadb, ours, irq, other,
                        tuple(v for v in split if v >= 0.01))

    def measure(self, seconds: float) -> CpuShare:
        self.start()
        time.sleep(seconds)
        return self.stop()

    def wait_quiet(self, *, server_max: float = 0.05, other_max: float = 0.25,
                   window_s: float = 1.0, limit_s: float = 90.0) -> tuple[float, CpuShare]:
        """Wait (bounded) until the server is idle and the machine nearly so.

        Returns the seconds waited and the last window measured; the caller
        records it either way, quiet or not.
        """
        began = time.monotonic()
        share = self.measure(window_s)
        while (share.server > server_max or share.other > other_max) and (
                time.monotonic() - began < limit_s):
            share = self.measure(window_s)
        return time.monotonic() - began, share


# -- a cloud's admin -----------------------------------------------------------------

def admin_token(url: str, clouds_yaml: Path) -> str:
    """A token of the cloud's admin, scoped to the admin project, with the password that
    `labs up` wrote into clouds.yaml."""
    import httpx
    import yaml

    auth = yaml.safe_load(clouds_yaml.read_text())["clouds"]["labs"]["auth"]
    reply = httpx.post(f"{url}/identity/v3/auth/tokens", timeout=30, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": auth["username"], "domain": {"name": "Default"},
            "password": auth["password"]}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}})
    reply.raise_for_status()
    return str(reply.headers["X-Subject-Token"])


# -- the machine --------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _first(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def machine() -> dict[str, Any]:
    mem_kb = _first("/proc/meminfo", "MemTotal").split()[0]
    return {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": _first("/proc/cpuinfo", "model name"),
        "memory_gib": round(int(mem_kb) / 1024 / 1024, 1) if mem_kb.isdigit() else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": wrk_version(),
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank `q` quantile: with under 100 values, p99 is the largest."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def dnsperf(server: str, port: int, names: Sequence[str], seconds: float, work: Path,
            netns: str | None = None, clients: int = 8,
            outstanding: int = 100) -> dict[str, Any]:
    """Load `server`:`port` with A queries for `names` in turn (from inside `netns` when
    given) for `seconds`; queries/s, lost queries, average latency, response codes."""
    data = work / "queries.txt"
    data.write_text("".join(f"{name} A\n" for name in names))
    argv = ["dnsperf", "-s", server, "-p", str(port), "-d", str(data), "-l", str(seconds),
            "-c", str(clients), "-q", str(outstanding), "-t", "2"]
    if netns is not None:
        argv = ["ip", "netns", "exec", netns, *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60,
                          check=True)
    qps = re.search(r"Queries per second:\s+([\d.]+)", done.stdout)
    lost = re.search(r"Queries lost:\s+(\d+)", done.stdout)
    latency = re.search(r"Average Latency \(s\):\s+([\d.]+)", done.stdout)
    codes = re.search(r"Response codes:\s+(.*)", done.stdout)
    if qps is None:
        raise RuntimeError(f"dnsperf said: {done.stdout}\n{done.stderr}")
    return {"qps": float(qps.group(1)), "lost": int(lost.group(1)) if lost else None,
            "avg_latency_ms": round(float(latency.group(1)) * 1000, 3) if latency else None,
            "response_codes": codes.group(1).strip() if codes else None}
