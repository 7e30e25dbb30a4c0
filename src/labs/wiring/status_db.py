"""What ``labs status`` reads in the cloud's database: the compute services and their
heartbeats (up or down as the scheduler and ``os-services`` judge them), the agents'
hosts with the memory they report, and the VMs by status, naming those in ERROR.

Read only: a database that is not there yet is said so, never created or migrated.
"""

from __future__ import annotations

import socket
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from labs.common.db import Database, DatabaseOptions
from labs.common.runner import Site
from labs.compute import models
from labs.compute.api.hosts import HostService, HypervisorView, ServiceView
from labs.compute.config import ComputeOptions
from labs.compute.payloads import utcnow
from labs.compute.rpcapi import AGENT_BINARY, CONDUCTOR_BINARY, SCHEDULER_BINARY
from labs.compute.states import ERROR, status_of
from labs.wiring.agent import agent_hosts
from labs.wiring.operate import UpRecord

Inst = models.Instance
#: How many VMs in ERROR are named; the rest are counted.
ERRORS_NAMED = 5


@dataclass
class CloudRecords:
    """What the database says of the cloud, read at `now`."""

    now: datetime
    services: list[ServiceView]
    hypervisors: list[HypervisorView]
    vms: Counter[str] = field(default_factory=Counter)  # client status -> how many
    in_error: list[tuple[str, str]] = field(default_factory=list)  # (id, name), newest first


@dataclass
class DatabaseReport:
    """What to print, and what is wrong (with its fix in words)."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def sqlite_file(site: Site) -> Path | None:
    """The SQLite file of the site's database, or None when it is a server's (MariaDB)."""
    url = site.config.group(DatabaseOptions).url
    if not url:
        return site.data_dir / "labs.db"
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database)


def read_records(db: Database, options: ComputeOptions) -> CloudRecords | None:
    """The services, hosts and VMs; None when compute's tables are not made yet."""
    if not sa.inspect(db.engine).has_table(models.Instance.__tablename__):
        return None
    hosts = HostService(db, options)
    records = CloudRecords(utcnow(), hosts.list_services(), hosts.list_hypervisors())
    alive = Inst.deleted.is_(False)
    with db.reading() as tx:
        for vm_state, task_state, count in tx.execute(
                sa.select(Inst.vm_state, Inst.task_state, sa.func.count()).where(alive)
                .group_by(Inst.vm_state, Inst.task_state)):
            records.vms[status_of(vm_state, task_state)] += int(count)
        records.in_error = [(str(i), str(n)) for i, n in tx.execute(
            sa.select(Inst.id, Inst.name).where(alive, Inst.vm_state == ERROR)
            .order_by(Inst.updated_at.desc()).limit(ERRORS_NAMED))]
    return records


def ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def heartbeat_age(view: ServiceView, now: datetime) -> float | None:
    seen = view.row.last_seen
    return None if seen is None else max((now - seen).total_seconds(), 0.0)


def own_services(site: Site) -> set[tuple[str, str]]:
    """(binary, host) of the services ``labs up`` of `site` runs: its conductor and
    scheduler on this machine, and its agents."""
    here = socket.gethostname()
    return ({(CONDUCTOR_BINARY, here), (SCHEDULER_BINARY, here)}
            | {(AGENT_BINARY, host) for host in agent_hosts(site)})


def service_line(view: ServiceView, now: datetime, stopped: bool) -> str:
    """One service: where it runs, enabled or not, and up, down or (`stopped`: the
    ``labs up`` that runs it is not running) not running, with its last heartbeat."""
    row = view.row
    enabled = "enabled" if not row.disabled else (
        f"disabled ({row.disabled_reason})" if row.disabled_reason else "disabled")
    age = heartbeat_age(view, now)
    if stopped:
        state = "not running (labs up is not)"
    elif row.forced_down:
        state = "forced down"
    else:
        state = "up" if view.up else "down"
    beat = "no heartbeat yet" if age is None else f"last heartbeat {ago(age)}"
    return (f"  {row.binary} on {row.host} (zone {row.availability_zone}): {enabled}, "
            f"{state}, {beat}")


def host_line(view: HypervisorView) -> str:
    """An agent's host: its VMs and its memory figures."""
    node = view.node
    reported = ("never reported" if node.memory_available_mb is None
                else f"{node.memory_available_mb} available when last reported")
    return (f"  {node.host} ({node.hypervisor_type}): {view.running_vms} VM(s); memory in "
            f"MiB: {node.memory_mb} in all, {view.memory_mb_used} held by VMs, "
            f"{node.reserved_memory_mb} kept for the host, {node.memory_overhead_mb} "
            f"overhead per VM, {reported}")


def vm_lines(records: CloudRecords) -> list[str]:
    total = sum(records.vms.values())
    counts = ", ".join(f"{status} {n}" for status, n in sorted(records.vms.items()))
    lines = [f"VMs in the database: {total}" + (f" ({counts})" if total else "")]
    lines += [f"  in ERROR: {vm_id} ({name})" for vm_id, name in records.in_error]
    more = records.vms["ERROR"] - len(records.in_error)
    if more > 0:
        lines.append(f"  and {more} more in ERROR (openstack server list --status ERROR "
                     "--all-projects)")
    return lines


def stale_problem(view: ServiceView, now: datetime, up: UpRecord, data_dir: Path,
                  down_seconds: float) -> str:
    age = heartbeat_age(view, now)
    heard = "has sent no heartbeat" if age is None else f"last sent a heartbeat {ago(age)}"
    return (f"labs up runs (pid {up.pid}) but its {view.row.binary} on {view.row.host} "
            f"{heard} (down after {down_seconds:.0f} s): it is stuck or failed. Look for "
            f"its error in labs up's log (its standard error), then restart labs up "
            f"(Ctrl-C or kill -TERM {up.pid}, and `labs up --data-dir {data_dir}`)")


def describe(records: CloudRecords, site: Site, up: UpRecord | None) -> DatabaseReport:
    """The lines on services, hosts and VMs; a problem for each service ``labs up``
    runs whose heartbeats stopped while it runs."""
    down_seconds = site.config.group(ComputeOptions).service_down_seconds
    own = own_services(site)
    report = DatabaseReport()
    report.lines.append(f"compute services ({len(records.services)}; down after "
                        f"{down_seconds:.0f} s without a heartbeat):")
    for view in records.services:
        mine = (view.row.binary, view.row.host) in own
        report.lines.append(service_line(view, records.now, mine and up is None))
        if mine and up is not None and not view.up and not view.row.forced_down:
            report.problems.append(stale_problem(view, records.now, up, site.data_dir,
                                                 down_seconds))
    if records.hypervisors:
        report.lines.append("agents' hosts:")
        report.lines += [host_line(view) for view in
                         sorted(records.hypervisors, key=lambda v: v.node.host)]
    report.lines += vm_lines(records)
    return report


def database_status(site: Site, up: UpRecord | None) -> DatabaseReport:
    """What the cloud's database says, read only. A database that is missing says so;
    one that cannot be read is a problem while ``labs up`` runs (it needs it)."""
    path = sqlite_file(site)
    if path is not None and not path.exists():
        return DatabaseReport([f"database: no database yet ({path})"])
    db = site.database()
    where = str(path) if path is not None else db.engine.url.render_as_string()
    try:
        records = read_records(db, site.config.group(ComputeOptions))
    except sa.exc.SQLAlchemyError as exc:
        why = str(exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc).splitlines()[0]
        report = DatabaseReport([f"database: {where} cannot be read: {why}"])
        if up is not None:
            report.problems.append(f"labs up runs but its database {where} cannot be read "
                                   f"({why}): start the database server, or look at labs "
                                   "up's log")
        return report
    finally:
        db.dispose()
    if records is None:
        return DatabaseReport([f"database: {where}, no compute tables yet (labs up has not "
                               "started on it)"])
    report = describe(records, site, up)
    report.lines.insert(0, f"database: {where}")
    return report
