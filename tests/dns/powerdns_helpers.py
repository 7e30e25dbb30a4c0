"""A private PowerDNS authoritative server for the DNS tests, on loopback ports of its own.

`PowerDnsServer.start(workdir)` runs Debian's `pdns_server` with the gsqlite3 backend over
a fresh database in `workdir`, its HTTP API on one free port and DNS (UDP and TCP) on
another, and returns once both answer. `PowerDnsCase` is what the backend tests use: a
`PowerDnsBackend` talking to that server and `query()` sending real DNS queries to it.
`powerdns_case()` makes one over a server shared by the whole test run (stopped at exit).
"""

from __future__ import annotations

import atexit
import contextlib
import secrets
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import dns.exception
import dns.message
import dns.query
import dns.rcode
import httpx
import pytest

from labs.dns.backends.powerdns import PowerDnsBackend

if TYPE_CHECKING:
    from tests.dns.test_backend_contract import Served

PDNS_SERVER = Path("/usr/sbin/pdns_server")
SCHEMA = Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")
INSTALL = "apt-get install pdns-server pdns-backend-sqlite3"
ADDRESS = "127.0.0.1"
START_TIMEOUT = 15.0  # seconds for pdns_server to answer on its API and DNS ports
STOP_TIMEOUT = 5.0
QUERY_TIMEOUT = 3.0  # seconds for one DNS query
START_ATTEMPTS = 3  # a free port can be taken between choosing it and pdns binding it
PORT_ATTEMPTS = 20


def free_port() -> int:
    """A loopback port free for both TCP and UDP right now."""
    for _ in range(PORT_ATTEMPTS):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((ADDRESS, 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((ADDRESS, port))
                except OSError:
                    continue
                return port
    raise RuntimeError(f"no port free for TCP and UDP on {ADDRESS} in {PORT_ATTEMPTS} tries")


def check_installed() -> None:
    """Fail (never skip) when PowerDNS or its SQLite backend is missing."""
    for path in (PDNS_SERVER, SCHEMA):
        if not path.exists():
            pytest.fail(f"PowerDNS is needed for the DNS tests ({path} is missing): {INSTALL}")
    if not any(PDNS_SERVER.parent.parent.glob("lib/*/pdns/libgsqlite3backend.so")):
        pytest.fail(f"PowerDNS's SQLite backend is needed for the DNS tests: {INSTALL}")


class PowerDnsServer:
    """One pdns_server process; `stop()` ends it."""

    def __init__(self, workdir: Path, process: subprocess.Popen[bytes], dns_port: int,
                 api_port: int, api_key: str) -> None:
        self.workdir = workdir
        self.process = process
        self.dns_port = dns_port
        self.api_url = f"http://{ADDRESS}:{api_port}"
        self.api_key = api_key

    @classmethod
    def start(cls, workdir: Path, flags: tuple[str, ...] = ()) -> PowerDnsServer:
        """Start pdns_server with the test settings and `flags` (``--name=value``)."""
        check_installed()
        workdir.mkdir(parents=True, exist_ok=True)
        problems = []
        for attempt in range(START_ATTEMPTS):
            server = cls._launch(workdir / f"pdns-{attempt}", flags)
            problem = server._wait_ready()
            if problem is None:
                return server
            server.stop()
            problems.append(f"{problem}\n{server.log_tail()}")
        pytest.fail("pdns_server did not start:\n" + "\n".join(problems))

    @classmethod
    def _launch(cls, workdir: Path, flags: tuple[str, ...]) -> PowerDnsServer:
        workdir.mkdir()
        database = workdir / "pdns.sqlite3"
        with contextlib.closing(sqlite3.connect(database)) as db:
            db.executescript(SCHEMA.read_text())
        (workdir / "pdns.conf").write_text("# every setting is on the command line\n")
        dns_port, api_port, api_key = free_port(), free_port(), secrets.token_hex(16)
        command = [
            str(PDNS_SERVER), f"--config-dir={workdir}", f"--socket-dir={workdir}",
            "--launch=gsqlite3", f"--gsqlite3-database={database}",
            f"--local-address={ADDRESS}", f"--local-port={dns_port}",
            "--api=yes", f"--api-key={api_key}", "--webserver=yes",
            f"--webserver-address={ADDRESS}", f"--webserver-port={api_port}",
            f"--webserver-allow-from={ADDRESS}", "--daemon=no", "--guardian=no",
            "--disable-syslog", "--security-poll-suffix=",  # no queries to the Internet
            "--distributor-threads=1", "--receiver-threads=1",
            # as the PowerDNS backend asks of every server (see its docstring)
            "--query-cache-ttl=0", "--negquery-cache-ttl=0", *flags,
        ]
        with (workdir / "pdns.log").open("wb") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT)
        return cls(workdir, process, dns_port, api_port, api_key)

    def _wait_ready(self) -> str | None:
        """None once the API and DNS answer; else what went wrong."""
        deadline = time.monotonic() + START_TIMEOUT
        probe = dns.message.make_query(".", "SOA")
        with httpx.Client(headers={"X-API-Key": self.api_key}, timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    return f"pdns_server exited with status {self.process.returncode}"
                try:
                    client.get(f"{self.api_url}/api/v1/servers/localhost").raise_for_status()
                    dns.query.udp(probe, ADDRESS, port=self.dns_port, timeout=0.5)
                    return None
                except (httpx.HTTPError, dns.exception.DNSException, OSError):
                    time.sleep(0.05)
        return f"pdns_server did not answer within {START_TIMEOUT:g} s"

    def log_tail(self, lines: int = 20) -> str:
        path = self.workdir / "pdns.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)


class PowerDnsCase:
    """The PowerDNS backend over a running server, and queries to that server."""

    def __init__(self, server: PowerDnsServer) -> None:
        self.server = server
        self.backend = PowerDnsBackend(server.api_url, server.api_key, timeout=5.0)

    @property
    def port(self) -> int:
        return self.server.dns_port

    def query(self, qname: str, qtype: str, tcp: bool = False) -> dns.message.Message:
        """The server's answer to one query, over UDP or TCP."""
        request = dns.message.make_query(qname, qtype)
        send = dns.query.tcp if tcp else dns.query.udp
        return send(request, ADDRESS, port=self.server.dns_port, timeout=QUERY_TIMEOUT)

    def clear(self) -> None:
        """Remove every zone, for a test that starts from nothing."""
        for name in self.backend.zone_names():
            self.backend.remove(name)

    def close(self) -> None:
        self.backend.close()


_shared: PowerDnsServer | None = None


def shared_server() -> PowerDnsServer:
    """The pdns_server of this test run, started on first use and stopped at exit."""
    global _shared
    if _shared is None or _shared.process.poll() is not None:
        workdir = Path(tempfile.mkdtemp(prefix="labs-pdns-"))
        _shared = PowerDnsServer.start(workdir)
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
        atexit.register(_shared.stop)
    return _shared


def powerdns_case() -> PowerDnsCase:
    """A case over the shared server, emptied of the zones earlier tests left."""
    case = PowerDnsCase(shared_server())
    case.clear()
    return case


def rcode(message: dns.message.Message) -> str:
    return dns.rcode.to_text(message.rcode())


@contextmanager
def powerdns_served(tmp_path: Path) -> Iterator[Served]:
    """The backend contract's case (tests/dns/test_backend_contract.py) for PowerDNS: the
    shared server; the contract's fixture removes every zone after each test."""
    from tests.dns.test_backend_contract import Served  # that module imports this one

    case = powerdns_case()
    try:
        yield Served(case.backend, ADDRESS, case.port)
    finally:
        case.close()
