"""Taking a cloud down: what a stopped ``labs up`` (or ``labs agent``) left on the host,
and removing it (``labs down``).

A cloud's host state is its VMs' qemu processes (named by the agent's instance records
in the data directory) and, with bridge networks, what its network prefix names: the
records under ``/run/labs/network/<prefix>`` and the namespaces, bridges, taps, dnsmasq
and nftables tables they stand for (the tables live in the namespaces). The DNS relays
and metadata listeners run inside the cloud's process and end with it, and so does the
private slapd of the accounts' directory (``labs down`` ends one that a killed ``labs up``
left running). ``up.json`` in
the data directory says which ``labs up`` runs and where it listens.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from labs.common.runner import Site
from labs.compute.config import AgentOptions
from labs.compute.virt import qemu_process
from labs.network.agent import netns
from labs.network.config import NetworkOptions
from labs.wiring.directory import stop_private_slapd
from labs.wiring.host_network import BRIDGE_STATE, bridge_driver
from labs.wiring.host_owner import (
    Owner,
    check_free,
    cloud_id,
    has_records,
    read_owner,
    release,
)

log = logging.getLogger("labs.operate")
UP_RECORD = "up.json"


@dataclass(frozen=True)
class UpRecord:
    """A running ``labs up``: its pid and public URL."""

    pid: int
    url: str

    def running(self) -> bool:
        return Owner("", self.pid).running()


def write_up_record(data_dir: Path, url: str) -> None:
    (data_dir / UP_RECORD).write_text(json.dumps({"pid": os.getpid(), "url": url}))


def drop_up_record(data_dir: Path) -> None:
    (data_dir / UP_RECORD).unlink(missing_ok=True)


def running_up(data_dir: Path) -> UpRecord | None:
    """The ``labs up`` of `data_dir` that still runs, or None."""
    try:
        data = json.loads((data_dir / UP_RECORD).read_text())
        record = UpRecord(int(data["pid"]), str(data["url"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if record.running() else None


@dataclass
class Leftovers:
    """What a cloud has on the host (besides its data directory)."""

    prefix: str
    vms: list[tuple[str, int]] = field(default_factory=list)  # (instance id, qemu pid)
    networks: list[str] = field(default_factory=list)  # network ids in the records
    namespaces: list[str] = field(default_factory=list)
    dnsmasq: list[int] = field(default_factory=list)
    state_dir: Path | None = None  # the prefix's records, when they are this cloud's

    def empty(self) -> bool:
        return not (self.vms or self.networks or self.namespaces or self.dnsmasq
                    or self.state_dir)

    def describe(self) -> str:
        parts = []
        if self.vms:
            parts.append(f"{len(self.vms)} VM(s) running (qemu pids "
                         f"{', '.join(str(pid) for _, pid in self.vms)})")
        if self.networks:
            parts.append(f"{len(self.networks)} network(s) in the records")
        if self.namespaces:
            parts.append(f"namespaces {', '.join(self.namespaces)}")
        if self.dnsmasq:
            parts.append(f"dnsmasq pids {', '.join(map(str, self.dnsmasq))}")
        if self.state_dir is not None:
            parts.append(f"records in {self.state_dir}")
        return "; ".join(parts) or "nothing"


def agent_instances(site: Site) -> Path:
    options = site.config.group(AgentOptions)
    return Path(options.state_dir or site.data_dir / "agent") / "instances"


def running_vms(site: Site) -> list[tuple[str, int]]:
    """The cloud's VMs whose qemu runs: each instance record's pid, checked to be the
    qemu of that instance (its working directory) and alive."""
    found = []
    try:
        workdirs = sorted(agent_instances(site).iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    for workdir in workdirs:
        try:
            pid = int((workdir / "pid").read_text())
        except (OSError, ValueError):
            continue
        if qemu_process.alive(pid, workdir.resolve()):
            found.append((workdir.name, pid))
    return found


def prefix_namespaces(prefix: str) -> list[str]:
    """The host namespaces of the cloud's networks, routers and public side."""
    return [n for n in netns.names(f"{prefix}-")
            if n.startswith((f"{prefix}-net-", f"{prefix}-rtr-")) or n == f"{prefix}-ext"]


def dnsmasq_of(state_dir: Path) -> list[int]:
    """The dnsmasq processes whose configuration lies under `state_dir`."""
    marker = f"{state_dir}/".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(b"dnsmasq") and marker in cmdline:
            found.append(int(entry.name))
    return found


def network_owner(site: Site) -> tuple[str, Path, Owner | None]:
    """The cloud's network prefix, its state directory and the recorded owner."""
    prefix = site.config.group(AgentOptions).network_prefix
    state_dir = BRIDGE_STATE / prefix
    return prefix, state_dir, read_owner(state_dir)


def find_leftovers(site: Site) -> tuple[Leftovers, Owner | None]:
    """What the cloud of `site` has on the host, and the other cloud (if any) whose
    state holds the cloud's network prefix (that state is not counted as this cloud's;
    records with no owner are: they predate owner records)."""
    prefix, state_dir, owner = network_owner(site)
    found = Leftovers(prefix, vms=running_vms(site))
    if owner is not None and owner.data_dir != cloud_id(site.data_dir):
        foreign = owner if (has_records(state_dir) or prefix_namespaces(prefix)) else None
        return found, foreign
    if has_records(state_dir):
        found.state_dir = state_dir
        found.networks = sorted(p.name for p in (state_dir / "networks").glob("*"))
        found.dnsmasq = dnsmasq_of(state_dir)
    found.namespaces = prefix_namespaces(prefix)
    return found, None


def _end(pid: int, marker: str) -> None:
    """SIGTERM, then SIGKILL after 5 s, a process whose command line holds `marker`."""
    if not netns.pid_alive(pid, marker):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while netns.pid_alive(pid, marker):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.05)


def take_down(site: Site, found: Leftovers) -> None:
    """Remove `found`: the VMs' qemu first (their taps are in the namespaces), then the
    networks through the bridge driver's records, then whatever the records missed."""
    for instance_id, pid in found.vms:
        qemu_process.kill(pid, agent_instances(site).resolve() / instance_id)
        log.info("stopped VM %s (qemu pid %d)", instance_id, pid)
    if found.state_dir is not None:
        options = site.config.group(AgentOptions)
        try:
            bridge_driver(options, site.config.group(NetworkOptions)).remove_all()
        except Exception as exc:  # the sweep below removes what is left
            log.warning("the network records of prefix %s did not all go cleanly (%s); "
                        "removing what is left by name", found.prefix, exc)
        for pid in dnsmasq_of(found.state_dir):
            _end(pid, str(found.state_dir))
        shutil.rmtree(found.state_dir, ignore_errors=True)
    for name in prefix_namespaces(found.prefix):
        netns.delete(name)


def down(site: Site, delete_data: bool = False) -> int:
    """``labs down``: refuse while the cloud runs; else remove what it left on the host
    (and, with `delete_data`, its data directory). Exit status 0 when nothing is left."""
    up = running_up(site.data_dir)
    if up is not None:
        log.error("labs up of %s still runs (pid %d, %s): stop it first (Ctrl-C, or "
                  "kill -TERM %d), then run labs down again", site.data_dir, up.pid, up.url,
                  up.pid, up.pid)
        return 1
    found, foreign = find_leftovers(site)
    _, state_dir, owner = network_owner(site)
    if owner is not None and foreign is None and owner.data_dir == cloud_id(site.data_dir) \
            and owner.pid != os.getpid() and owner.running():
        log.error("a Labs process of %s still runs (pid %d) and holds its host networks: "
                  "stop it first", site.data_dir, owner.pid)
        return 1
    if foreign is not None:
        log.info("the host networks of prefix %s are the cloud of %s's, not this one's: "
                 "left alone", found.prefix, foreign.data_dir)
    release(state_dir, site.data_dir)
    slapd = stop_private_slapd(site)
    if slapd is not None:
        print(f"stopped the private slapd of {site.data_dir} (pid {slapd})")
    if found.empty():
        print(f"nothing of the cloud of {site.data_dir} is left on this host")
    else:
        what = found.describe()
        take_down(site, found)
        again, _ = find_leftovers(site)
        if not again.empty():
            log.error("still there after labs down: %s", again.describe())
            return 1
        print(f"removed from this host: {what}")
    if delete_data:
        shutil.rmtree(site.data_dir)
        print(f"deleted the data directory {site.data_dir}")
    else:
        print(f"kept the data directory {site.data_dir} (the database, images and VM "
              "disks); --delete-data removes it")
    return 0


class Stopped(Exception):
    """SIGTERM reached ``labs up``."""


def _stopped(signum: int, _frame: object) -> None:
    raise Stopped(signum)


@contextlib.contextmanager
def up_session(site: Site) -> Iterator[None]:
    """The life of ``labs up``: SIGTERM and Ctrl-C end it without a traceback, its
    record goes when it ends, and its last line says what it left running and how to
    remove that. The VMs keep running for the next ``labs up`` to adopt."""
    signal.signal(signal.SIGTERM, _stopped)
    try:
        yield
    except (KeyboardInterrupt, Stopped):
        pass
    finally:
        drop_up_record(site.data_dir)
        _, state_dir, _ = network_owner(site)
        release(state_dir, site.data_dir)
        log.info("labs up stopped; its VMs and host networks keep running for the next "
                 "`labs up --data-dir %s` to adopt; `labs down --data-dir %s` removes them",
                 site.data_dir, site.data_dir)


def check_host_free(site: Site) -> None:
    """HostStateTaken when another cloud holds this cloud's network prefix (only with
    bridge networks, the only ones that leave host-wide state)."""
    options = site.config.group(AgentOptions)
    if options.network_driver in ("user", "none") or (
            options.network_driver == "auto" and options.driver == "fake"):
        return
    check_free(BRIDGE_STATE / options.network_prefix, options.network_prefix, site.data_dir)
