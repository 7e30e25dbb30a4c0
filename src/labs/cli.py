"""The `labs` command: run the cloud, run one service, administer."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labs.common.runner import (
    ReadyServer,
    Site,
    compose,
    run_workers,
    setup_logging,
    uvicorn_config,
)
from labs.wiring import account_commands

if TYPE_CHECKING:
    from labs.identity.service import IdentityService

log = logging.getLogger("labs")


def cmd_up(args: argparse.Namespace) -> int:
    """The all-in-one: every service in this process, on one port."""
    from labs.directory.slapd import SlapdError
    from labs.wiring import operate
    from labs.wiring.cloud import build_all_in_one
    from labs.wiring.host_owner import HostStateTaken

    site = Site.open(args.data_dir, args.config)
    bind = args.bind or site.http().bind
    try:
        operate.check_host_free(site)
        with operate.up_session(site):
            cloud = build_all_in_one(site, site.public_url(bind))
            operate.write_up_record(site.data_dir, cloud.public_url)
            ready = (f"Labs is up at {cloud.public_url} (identity {cloud.public_url}/identity"
                     f"/v3); clients: {_clients_path()}OS_CLIENT_CONFIG_FILE="
                     f"{cloud.clouds_yaml} OS_CLOUD=labs")
            try:
                ReadyServer(uvicorn_config(cloud.app, bind), ready).run()
            finally:
                cloud.stop()
    except HostStateTaken as exc:
        log.error("labs up refuses to start: %s", exc)
        return 2
    except SlapdError as exc:
        log.error("labs up cannot start the accounts' directory: %s ([directory] backend "
                  "= sql keeps the accounts in SQL)", exc)
        return 2
    return 0


def _clients_path() -> str:
    """How to reach the `openstack` command installed beside Labs (`./run up` puts it in
    the project's environment), as the start of an `export` line."""
    import sys

    where = Path(sys.prefix) / "bin"
    if (where / "openstack").exists():
        return f"export PATH={where}:$PATH "
    return "export "


def cmd_down(args: argparse.Namespace) -> int:
    """Stop the cloud's VMs and remove what it made on this host."""
    from labs.wiring.operate import down

    return down(Site.open(args.data_dir, args.config), args.delete_data)


def cmd_status(args: argparse.Namespace) -> int:
    """What of the cloud runs, and what is left on this host."""
    from labs.wiring.status import status

    return status(Site.open(args.data_dir, args.config))


def cmd_serve(args: argparse.Namespace) -> int:
    """One service on its own: identity, compute-api or network with worker processes;
    the conductor, the scheduler and dns as one process each."""
    if args.db:
        os.environ["LABS_DATABASE_URL"] = args.db
    if args.bus:
        os.environ["LABS_BUS_URL"] = args.bus
    site = Site.open(args.data_dir, args.config)
    if args.service not in ("identity", "network", "accounts") and not _has_shared_bus(site):
        return 2
    if args.service in ("conductor", "scheduler"):
        return _serve_control(site, args.service)
    if args.service == "dns":
        return _serve_dns(site, args.bind or site.http().bind, args.workers)
    from labs.wiring.identity import open_identity

    bind = args.bind or site.http().bind
    workers = args.workers or site.http().workers
    if args.service == "identity":
        from labs.wiring.identity import serve_identity
        return serve_identity(site, bind, workers)
    identity = open_identity(site)
    identity.prepare()
    if args.service == "network":
        if not _prepare_network(site, identity, site.public_url(bind)):
            return 2
        factory = "labs.wiring.network:create_app"
    elif args.service == "accounts":
        from labs.identity.bootstrap import ACCOUNTS, ensure_catalog
        ensure_catalog(identity, site.public_url(bind), (ACCOUNTS,))
        factory = "labs.wiring.accounts:create_app"
    else:
        from labs.identity.bootstrap import COMPUTE, ensure_catalog
        from labs.wiring.compute import prepare_api_database
        prepare_api_database(site, identity.store.db)
        ensure_catalog(identity, site.public_url(bind), (COMPUTE,))
        factory = "labs.wiring.compute:create_api_app"
    identity.store.db.dispose()
    run_workers(site, args.service, factory, bind, workers)
    return 0


def _prepare_network(site: Site, identity: IdentityService, public_url: str) -> bool:
    """Migrate the network tables and put the network API in the catalog (if `[network]
    api_in_catalog`), once, before the worker processes start (the API reads the tables;
    it changes floating IPs over the shared bus when there is one)."""
    from labs.identity.bootstrap import NETWORK, ensure_catalog, withdraw_from_catalog
    from labs.network.config import NetworkOptions
    from labs.wiring.network import admin_project_id, open_network

    cloud_project_id = admin_project_id(identity)
    if cloud_project_id is None:
        log.error("no admin project yet: start `labs serve identity` first")
        return False
    if site.config.group(NetworkOptions).api_in_catalog:
        ensure_catalog(identity, public_url, (NETWORK,))
    else:
        withdraw_from_catalog(identity, NETWORK)
        log.warning("the network API is not in the catalog ([network] api_in_catalog is "
                    "off): clients reach it only at %s/network", public_url)
    open_network(site, identity.store.db, cloud_project_id).prepare()
    return True


def _serve_control(site: Site, which: str) -> int:
    from labs.wiring.bus import open_bus
    from labs.wiring.compute import serve_conductor, serve_scheduler

    db = site.database()
    bus = open_bus(site, f"{which}.{os.uname().nodename}")
    housekeeper = None
    if which == "conductor":
        from labs.wiring.compute import prepare_api_database
        prepare_api_database(site, db)
        housekeeper = serve_conductor(site, db, bus)
    else:
        serve_scheduler(site, db, bus)
    with bus:
        if housekeeper is not None:
            housekeeper.start()
        log.info("%s running; stop it with SIGTERM or Ctrl-C", which)
        try:
            _wait_for_signal()
        finally:
            if housekeeper is not None:
                housekeeper.stop()
    return 0


def _serve_dns(site: Site, bind: str, workers: int | None) -> int:
    """The DNS service in one process: its API, the sink on the bus, and the backend
    (the embedded server answers on ``[dns] listen``)."""
    if workers not in (None, 1):
        log.error("the DNS service runs as one process (its API, its sink and the DNS "
                  "server it feeds share it): leave out --workers")
        return 2
    from labs.dns.api import build_api
    from labs.identity.bootstrap import DNS, ensure_catalog
    from labs.identity.resources import ProjectFilter
    from labs.wiring.bus import open_bus
    from labs.wiring.dns import serve_dns
    from labs.wiring.identity import open_identity

    identity = open_identity(site)
    identity.prepare()
    public_url = site.public_url(bind)
    ensure_catalog(identity, public_url, (DNS,))
    admin = identity.resources.list_projects(ProjectFilter(name="admin"))
    if not admin:
        log.error("no admin project yet: start `labs serve identity` first")
        return 2
    bus = open_bus(site, f"dns.{os.uname().nodename}")
    dns = serve_dns(site, identity.store.db, bus, admin[0].id)
    app = compose({"/dns": build_api(dns.service, identity.tokens).app()})
    try:
        with bus:
            dns.start()
            ReadyServer(uvicorn_config(app, bind),
                        f"the DNS service is up at {public_url}/dns").run()
    finally:
        dns.stop()
    return 0


def cmd_agent(args: argparse.Namespace) -> int:
    """A compute agent for one host: no database, only the bus."""
    if args.bus:
        os.environ["LABS_BUS_URL"] = args.bus
    from labs.wiring.agent import serve_agents
    from labs.wiring.bus import open_bus
    from labs.wiring.host_owner import HostStateTaken

    site = Site.open(args.data_dir, args.config)
    if not _has_shared_bus(site):
        return 2
    host = args.host or os.uname().nodename
    bus = open_bus(site, f"compute.{host}")
    try:
        agents = serve_agents(site, bus, host)
    except HostStateTaken as exc:
        log.error("the agent refuses to start: %s", exc)
        return 2
    with bus:
        for agent in agents:
            agent.start()
        log.info("agent %s running; stop it with SIGTERM or Ctrl-C",
                 ", ".join(a.host for a in agents))
        try:
            _wait_for_signal()
        finally:
            for agent in agents:
                agent.stop()
    return 0


def cmd_ssh(args: argparse.Namespace) -> int:
    """A shell (or a command) in a VM of this host."""
    from labs import ssh

    site = Site.open(args.data_dir, args.config)
    return ssh.run(site, args.server, args.user, args.identity, args.remote)


def _has_shared_bus(site: Site) -> bool:
    """Compute's parts in separate processes talk over RabbitMQ, never in-process."""
    from labs.common.bus.options import BusOptions

    url = site.config.group(BusOptions).url
    if url and not url.startswith(("memory", "inprocess")):
        return True
    log.error("this service talks to the others over RabbitMQ: give --bus "
              "amqp://user:password@host:5672// (or [bus] url in labs.conf, or LABS_BUS_URL)")
    return False


def _wait_for_signal() -> None:
    import signal
    import threading

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(3600):
        pass


def cmd_rotate_keys(args: argparse.Namespace) -> int:
    """Promote the staged Fernet key and stage a new one."""
    from labs.wiring.identity import open_identity

    identity = open_identity(Site.open(args.data_dir, args.config))
    if args.credentials:
        primary, moved = identity.credentials.rotate_keys()
        print(f"rotated credential keys in {identity.credential_keys.path}: primary is now "
              f"key {primary}; {moved} credentials re-encrypted with it")
        return 0
    identity.keys.ensure()
    primary = identity.keys.rotate()
    print(f"rotated Fernet keys in {identity.keys.path}: primary is now key {primary}")
    return 0


def cmd_image_build(args: argparse.Namespace) -> int:
    """Build the Labs VM image from Debian packages."""
    from labs.vmimage.builder import ImageBuildError, build_image

    try:
        built = build_image(args.output, args.cache_dir, rebuild=args.rebuild)
    except ImageBuildError as exc:
        log.error("image build failed: %s", exc)
        return 1
    print(f"{built.path} ({built.size} bytes, sha256 {built.sha256}); manifest "
          f"{built.manifest_path}; register it with: openstack image create --disk-format "
          f"qcow2 --container-format bare --file {built.path} labs")
    return 0


def common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, help="where Labs keeps its data "
                   "(default: $LABS_DATA_DIR or ~/.local/share/labs)")
    p.add_argument("--config", type=Path, help="labs.conf (default: DATA_DIR/labs.conf)")


def _operate_commands(sub: Any) -> None:
    down = sub.add_parser("down", help="stop the cloud's VMs and remove what it made on "
                          "this host (keeps the data directory)")
    common(down)
    down.add_argument("--delete-data", action="store_true",
                      help="also delete the data directory (database, images, VM disks)")
    down.set_defaults(func=cmd_down)

    status = sub.add_parser("status", help="what of the cloud runs, and what it left on "
                            "this host")
    common(status)
    status.set_defaults(func=cmd_status)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="labs", description="Labs: a community cloud.")
    top.add_argument("--log-level", default="info",
                     choices=["debug", "info", "warning", "error"])
    sub = top.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the whole cloud in this process")
    common(up)
    up.add_argument("--bind", help="HOST:PORT (default 127.0.0.1:5000)")
    up.set_defaults(func=cmd_up)

    _operate_commands(sub)

    serve = sub.add_parser("serve", help="run one service")
    serve.add_argument("service", choices=["identity", "compute-api", "conductor",
                                           "scheduler", "dns", "network", "accounts"])
    common(serve)
    serve.add_argument("--bind", help="HOST:PORT (default 127.0.0.1:5000)")
    serve.add_argument("--db", help="database URL, e.g. mysql+pymysql://user:pw@host/labs")
    serve.add_argument("--bus", help="message bus URL, e.g. amqp://guest:guest@host:5672//")
    serve.add_argument("--workers", type=int, help="worker processes (default 2)")
    serve.set_defaults(func=cmd_serve)

    agent = sub.add_parser("agent", help="run a compute agent for one host")
    common(agent)
    agent.add_argument("--host", help="this host's name (default: the machine's)")
    agent.add_argument("--bus", help="message bus URL, e.g. amqp://guest:guest@host:5672//")
    agent.set_defaults(func=cmd_agent)

    ssh = sub.add_parser("ssh", help="ssh into a VM of this host, however it is reachable")
    common(ssh)
    ssh.add_argument("-l", "--user", default="root", help="login (default root; the image "
                     "also has labs)")
    ssh.add_argument("-i", "--identity", help="private key file (default: ssh's own)")
    ssh.add_argument("server", help="the server's name or id")
    ssh.add_argument("remote", nargs=argparse.REMAINDER, help="a command to run instead of "
                     "a shell")
    ssh.set_defaults(func=cmd_ssh)

    account_commands.add_commands(sub, common, cmd_rotate_keys)

    image = sub.add_parser("image", help="VM images")
    image_sub = image.add_subparsers(dest="action", required=True)
    build = image_sub.add_parser("build", help="build the Labs VM image (qcow2) from "
                                 "Debian packages")
    build.add_argument("--output", type=Path, default=Path("."),
                       help="directory for labs.qcow2 and labs.manifest.json (default: .)")
    build.add_argument("--cache-dir", type=Path, help="downloaded packages and built images "
                       "(default: $LABS_IMAGE_CACHE or ~/.cache/labs/image-build)")
    build.add_argument("--rebuild", action="store_true",
                       help="build again even if the cache holds this image")
    build.set_defaults(func=cmd_image_build)
    return top


def main(argv: list[str] | None = None) -> int:
    from labs.common.config import ConfigError

    args = parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        result: int = args.func(args)
    except ConfigError as exc:  # what to set or start, said once, without a traceback
        log.error("%s", exc)
        return 2
    return result


if __name__ == "__main__":
    raise SystemExit(main())
