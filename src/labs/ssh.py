"""`labs ssh SERVER`: a shell in a VM of this host, however it is reachable.

On a bridge network the VM's fixed IP is reachable only from inside its network's
namespace: ssh runs there. On qemu's user-mode network its ssh port is forwarded to a
loopback port, which the qemu driver's record names. The server is found by name or id
in the cloud's database (so run it where the cloud's data directory is, as root for
namespaces).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from labs.common.runner import Site
from labs.compute import models
from labs.compute.config import AgentOptions
from labs.compute.virt import qemu_records
from labs.network.config import NetworkOptions
from labs.network.service import NetworkService

SSH_OPTIONS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "LogLevel=ERROR"]


class SshError(Exception):
    """The server cannot be reached; the message says why and what to do."""


@dataclass(frozen=True)
class Target:
    server_id: str
    argv_prefix: list[str]  # what runs ssh: ["ip", "netns", "exec", NS] or []
    host: str
    port: int


def find_target(site: Site, server: str) -> Target:
    db = site.database()
    try:
        with db.reading() as tx:
            rows = list(tx.scalars(sa.select(models.Instance).where(
                sa.or_(models.Instance.id == server, models.Instance.name == server),
                models.Instance.deleted.is_(False))))
            if not rows:
                raise SshError(f"no server {server!r} (by name or id) in this cloud")
            if len(rows) > 1:
                raise SshError(f"{len(rows)} servers are named {server!r}: use an id ("
                               + ", ".join(r.id for r in rows) + ")")
            row = rows[0]
            # the address through the network service, which owns the network tables
            network = NetworkService(db, site.config.group(NetworkOptions))
            fixed = network.fixed_ips.of_instances(tx, [row.id]).get(row.id)
    finally:
        db.dispose()
    options = site.config.group(AgentOptions)
    if fixed is not None:
        namespace = f"{options.network_prefix}-net-{fixed.network_id}"
        if Path("/run/netns", namespace).exists():
            return Target(row.id, ["ip", "netns", "exec", namespace], fixed.address, 22)
    workdir = Path(options.state_dir or site.data_dir / "agent") / "instances" / row.id
    if (workdir / qemu_records.RECORD).exists():
        record = qemu_records.read_record(workdir)
        for nic, port in zip(qemu_records.nics(record), record.get("ports", []), strict=False):
            if nic.kind == "user" and port:
                return Target(row.id, [], "127.0.0.1", int(port))
    raise SshError(f"server {server} ({row.id}) is not reachable from this host: it has "
                   "no network namespace here and no forwarded ssh port (is it on another "
                   "host, or still building?)")


def ssh_argv(target: Target, user: str, key: str | None, command: list[str]) -> list[str]:
    argv = [*target.argv_prefix, "ssh", *SSH_OPTIONS, "-p", str(target.port)]
    if key:
        argv += ["-i", key]
    return [*argv, f"{user}@{target.host}", *command]


def run(site: Site, server: str, user: str, key: str | None, command: list[str]) -> int:
    """Replace this process by the ssh session (returns only on error)."""
    try:
        target = find_target(site, server)
    except SshError as exc:
        print(f"labs ssh: {exc}")
        return 2
    argv = ssh_argv(target, user, key, command)
    os.execvp(argv[0], argv)
    return 127  # not reached
