"""Benchmark Labs accounts on both identity backends, SQL and LDAP, in the same run.

For each backend: identity and accounts in-process behind uvicorn on a loopback port
(one process, as one ``labs serve`` worker), on a scratch MariaDB database; the LDAP
backend keeps users in a private slapd this benchmark starts in a temporary directory.

- **sign-ups**: ``POST /accounts/v1/signup`` one after another over HTTP, at bcrypt
  cost ``--rounds`` (12, the default); sign-ups/s is shown as a fraction of the hash
  bound (1 / one ``bcrypt.hashpw`` at that cost, measured in the same run);
- **user list**: ``--users`` accounts (10,000) are loaded through the identity service
  (no password, so no bcrypt), then ``GET /identity/v3/users`` ``--lists`` times;
- **token issue**: ``POST /identity/v3/auth/tokens``, password method, project scope,
  ``--issues`` times (one bcrypt check each);
- **keys**: the directory part of a VM's key lookup at login: ``ssh_keys_of`` and
  ``list_ssh_keys`` of one user with a key among the ``--users``.

    .venv/bin/python bench/accounts.py            # the full run: a few minutes
    .venv/bin/python bench/accounts.py --quick    # smoke test: under a minute

Needs MariaDB at 127.0.0.1:3306 (root, no password) and slapd (``apt-get install
slapd ldap-utils``). See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bcrypt
import httpx
import pymysql
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.types import ASGIApp

sys.path[:0] = [str(Path(__file__).resolve().parent)]
from _load import free_port, machine, markdown_table, percentile  # noqa: E402
from labs.accounts.api import build_api as accounts_api  # noqa: E402
from labs.accounts.config import AccountsOptions  # noqa: E402
from labs.accounts.service import AccountsService  # noqa: E402
from labs.common.db import Database  # noqa: E402
from labs.common.runner import compose  # noqa: E402
from labs.directory.connection import Directory  # noqa: E402
from labs.directory.slapd import DirectoryAddress, PrivateSlapd, slapd_installed  # noqa: E402
from labs.identity.api import build_api as identity_api  # noqa: E402
from labs.identity.backends.base import IdentityBackend, UserRecord  # noqa: E402
from labs.identity.backends.ldap import LdapIdentityBackend  # noqa: E402
from labs.identity.bootstrap import bootstrap  # noqa: E402
from labs.identity.config import IdentityOptions  # noqa: E402
from labs.identity.resources import new_id  # noqa: E402
from labs.identity.service import IdentityService  # noqa: E402
from labs.wiring.identity import new_identity  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
ADMIN_PASSWORD = "bench-admin-secret"
AIMS = {"key_lookup_p99_ms": 20.0}
WAIT_S = 30.0


def note(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """A fresh MariaDB database, dropped afterwards."""
    name = f"labs_bench_{uuid.uuid4().hex[:12]}"
    conn = pymysql.connect(**MARIADB, autocommit=True, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        yield f"mysql+pymysql://root@127.0.0.1:3306/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.close()


@contextlib.contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """``app`` behind uvicorn on a free loopback port, in a thread; its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(WAIT_S)


def timed(action: Callable[[], object], count: int, limit_s: float) -> list[float]:
    """Milliseconds of ``action``, at most ``count`` times and for about ``limit_s``."""
    times: list[float] = []
    stop = time.monotonic() + limit_s
    for _ in range(count):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
        if time.monotonic() > stop:
            break
    return times


def summary(times: list[float]) -> dict[str, Any]:
    return {"n": len(times), "p50_ms": percentile(times, 0.5), "p99_ms": percentile(times, 0.99),
            "mean_ms": statistics.fmean(times), "raw_ms": times}


def hash_seconds(rounds: int, count: int) -> float:
    """The median time of one ``bcrypt.hashpw`` at ``rounds``: what a sign-up costs."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        bcrypt.hashpw(b"benchmark-password", bcrypt.gensalt(rounds))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def expect(resp: httpx.Response, status: int) -> httpx.Response:
    if resp.status_code != status:
        raise RuntimeError(f"{resp.request.method} {resp.request.url}: "
                           f"{resp.status_code} {resp.text[:300]}")
    return resp


def auth_body(user: str, password: str, project: str | None) -> dict[str, Any]:
    auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {
        "user": {"name": user, "domain": {"id": "default"}, "password": password}}}}
    auth["scope"] = ({"project": {"name": project, "domain": {"id": "default"}}}
                     if project else "unscoped")
    return {"auth": auth}


def public_key() -> str:
    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH).decode() + " bench@labs"


def load_users(identity: IdentityService, count: int, limit_s: float,
               batch: int = 250) -> dict[str, Any]:
    """``count`` users without a password (no bcrypt), each with its account, as the
    identity service makes them, ``batch`` to a transaction; their ids."""
    start = time.monotonic()
    ids: list[str] = []
    while len(ids) < count and time.monotonic() - start < limit_s:
        with identity.store.write() as tx:
            for i in range(len(ids), min(count, len(ids) + batch)):
                user_id, name = new_id(), f"bench-user-{i:05d}"
                posix = identity.users.ledger.allocate(tx, user_id, name)
                identity.backend.create_user(tx, UserRecord(
                    id=user_id, name=name, domain_id="default", enabled=True,
                    default_project_id=None, extra={}, posix=posix), None)
                ids.append(user_id)
    return {"users": len(ids), "seconds": time.monotonic() - start, "ids": ids}


def measure_backend(kind: str, identity: IdentityService, work: Path,
                    args: argparse.Namespace) -> dict[str, Any]:
    accounts = AccountsService(identity, AccountsOptions(self_service=True))
    app = compose({"/identity": identity_api(identity).app(),
                   "/accounts": accounts_api(accounts, identity.tokens).app()})
    out: dict[str, Any] = {"backend": kind}
    with serving(app) as url, httpx.Client(base_url=url, timeout=60.0) as client:
        note(f"{kind}: {args.signups} sign-ups")
        n = 0

        def sign_up() -> None:
            nonlocal n
            n += 1
            expect(client.post("/accounts/v1/signup", json={"account": {
                "name": f"signed-up-{n}", "password": "sign-up-secret"}}), 201)
        hashes = [hash_seconds(args.rounds, args.hashes)]
        start = time.perf_counter()
        out["signup"] = summary(timed(sign_up, args.signups, args.limit))
        out["signup"]["per_s"] = out["signup"]["n"] / (time.perf_counter() - start)
        hashes.append(hash_seconds(args.rounds, args.hashes))
        # one bcrypt hash at the cost, just before and after: the sign-ups' bound
        out["hash_s"] = statistics.fmean(hashes)
        out["hashes_s"] = hashes

        note(f"{kind}: loading {args.users} users")
        out["load"] = load_users(identity, args.users, args.load_limit)
        admin = expect(client.post("/identity/v3/auth/tokens",
                                   json=auth_body("admin", ADMIN_PASSWORD, "admin")), 201)
        headers = {"X-Auth-Token": admin.headers["X-Subject-Token"]}
        count = len(expect(client.get("/identity/v3/users", headers=headers), 200)
                    .json()["users"])
        out["listed"] = count
        note(f"{kind}: {args.lists} lists of {count} users")
        out["list"] = summary(timed(lambda: expect(
            client.get("/identity/v3/users", headers=headers), 200), args.lists, args.limit))

        note(f"{kind}: {args.issues} token issues")
        body = auth_body("admin", ADMIN_PASSWORD, "admin")
        out["issue"] = summary(timed(lambda: expect(
            client.post("/identity/v3/auth/tokens", json=body), 201), args.issues, args.limit))

    one = out["load"]["ids"][len(out["load"]["ids"]) // 2]
    accounts.add_key(one, public_key())
    backend = identity.backend

    def keys_of() -> None:
        with identity.store.read() as tx:
            assert backend.ssh_keys_of(tx, [one])[one]

    def list_keys() -> None:
        with identity.store.read() as tx:
            assert backend.list_ssh_keys(tx, one)
    out["ssh_keys_of"] = summary(timed(keys_of, args.keys, args.limit))
    out["list_ssh_keys"] = summary(timed(list_keys, args.keys, args.limit))
    return out


def run_backend(kind: str, slapd: DirectoryAddress | None, work: Path,
                args: argparse.Namespace) -> dict[str, Any]:
    with scratch_database() as db_url:
        backend: IdentityBackend | None = None
        directory = None
        if slapd is not None:
            directory = Directory(slapd.url, slapd.admin_dn, slapd.admin_password,
                                  slapd.base_dn, timeout=30.0)
            backend = LdapIdentityBackend(directory, args.rounds)
        data = work / kind
        data.mkdir()
        identity = new_identity(Database(db_url),
                                IdentityOptions(password_hash_rounds=args.rounds),
                                data, backend)
        try:
            identity.prepare()
            bootstrap(identity, "http://127.0.0.1", data, admin_password=ADMIN_PASSWORD)
            return measure_backend(kind, identity, data, args)
        finally:
            identity.store.db.dispose()
            if directory is not None:
                directory.close()


def ms(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def report(out: dict[str, Any]) -> str:
    rounds = out["args"]["rounds"]
    rows = []
    for r in out["backends"]:
        s, hash_s = r["signup"], r["hash_s"]
        rows.append([r["backend"], "sign-up", s["n"],
                     f"**{s['per_s']:.2f}/s** = {s['per_s'] * hash_s:.0%} of the hash bound "
                     f"(1 / {hash_s * 1000:.0f} ms); a sign-up takes "
                     f"{s['p50_ms'] / 1000 / hash_s:.2f} hashes",
                     ms(s["p50_ms"]), ms(s["p99_ms"])])
        rows.append([r["backend"], f"GET /v3/users ({r['listed']:,} users)", r["list"]["n"],
                     "", f"**{ms(r['list']['p50_ms'])}**", ms(r["list"]["p99_ms"])])
        i = r["issue"]
        rows.append([r["backend"], "token issue (password)", i["n"],
                     f"{i['p50_ms'] / 1000 / hash_s:.2f} bcrypt checks a token",
                     f"**{ms(i['p50_ms'])}**", ms(i["p99_ms"])])
        for name in ("ssh_keys_of", "list_ssh_keys"):
            k = r[name]
            rows.append([r["backend"], f"`{name}` (1 of {r['load']['users']:,})", k["n"],
                         f"aim p99 <= {AIMS['key_lookup_p99_ms']:g} ms",
                         f"**{ms(k['p50_ms'])}**", ms(k["p99_ms"])])
    table = markdown_table(["backend", "benchmark", "n", "rate / note", "p50 ms", "p99 ms"],
                           rows)
    loads = "; ".join(f"{r['backend']}: {r['load']['users']:,} users in "
                      f"{r['load']['seconds']:.1f} s" for r in out["backends"])
    return (f"{table}\n\nbcrypt cost {rounds}, one hash at the start: "
            f"{out['bcrypt_hash_s'] * 1000:.0f} ms. Loaded {loads}. Load average "
            f"{out['loadavg_start'][0]:.1f} at the start, {out['loadavg_end'][0]:.1f} at "
            f"the end.\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: 300 users, cost 4, few requests")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--signups", type=int, default=20)
    parser.add_argument("--lists", type=int, default=20)
    parser.add_argument("--issues", type=int, default=20)
    parser.add_argument("--keys", type=int, default=300)
    parser.add_argument("--hashes", type=int, default=5,
                        help="bcrypt hashes timed before and after the sign-ups")
    parser.add_argument("--rounds", type=int, default=12, help="bcrypt cost (12: the default)")
    parser.add_argument("--limit", type=float, default=60.0,
                        help="seconds at most per measurement")
    parser.add_argument("--load-limit", type=float, default=600.0,
                        help="seconds at most to load the users")
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.signups, args.lists, args.issues, args.keys = 300, 3, 3, 3, 20
        args.rounds, args.limit, args.load_limit, args.hashes = 4, 20.0, 60.0, 3
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not slapd_installed():
        print("slapd is needed: apt-get install slapd ldap-utils", file=sys.stderr)
        return 2
    out: dict[str, Any] = {"args": vars(args), "machine": machine(),
                           "started": datetime.now(UTC).isoformat(), "backends": [],
                           "loadavg_start": os.getloadavg()}
    note(f"bcrypt cost {args.rounds}")
    out["bcrypt_hash_s"] = hash_seconds(args.rounds, 3 if args.quick else 10)
    with tempfile.TemporaryDirectory(prefix="labs-bench-accounts-") as tmp:
        work = Path(tmp)
        slapd = PrivateSlapd(work / "slapd")
        address = slapd.start()
        try:
            out["backends"].append(run_backend("sql", None, work, args))
            out["backends"].append(run_backend("ldap", address, work, args))
        finally:
            slapd.stop()
    out["loadavg_end"] = os.getloadavg()
    text = report(out)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"accounts-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    for r in out["backends"]:
        r["load"].pop("ids", None)
    path.write_text(json.dumps(out, indent=1, default=str))
    note(f"raw numbers: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
