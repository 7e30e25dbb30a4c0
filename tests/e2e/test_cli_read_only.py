"""Every read-only command (`list`, `show`) of the CLI's compute, image, identity, network,
dns and common groups against a fresh `labs up`: none may meet a server error (5xx) or a
URL Labs does not route (404 "The resource ... was not found.", or 405).

The command list comes from the CLI (`openstack command list`), each command's required
arguments from its own parser: a `show` is given the first id its `list` finds, and the
few parents (a server, an image, a zone, a router, ...) are real resources made here; an
argument nothing here names gets a made-up value. A 404 for a resource that does not
exist is fine; only the unrouted URL is a failure. keystoneauth's request log (what
`--debug` prints) says which URL answered what. The list of every command run, and of the
Neutron extensions found not offered, is left in `read-only-commands.txt` next to the
cloud's data directory.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import RunningCloud, start_labs_up

#: the CLI's own libraries warn of their deprecated parts, which is not for this test
pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::FutureWarning")]

GROUPS = ("openstack.common", "openstack.compute.v2", "openstack.image.v2",
          "openstack.identity.v3", "openstack.network.v2", "openstack.dns.v2")
#: Commands about services Labs does not offer (whole command families, by prefix).
EXCLUDED = {
    # Glance's metadata definitions catalog: the property vocabulary Horizon shows in its
    # forms, a separate Glance sub-API Labs does not serve
    "image metadef": "Glance metadata definitions",
    # Nova's shares (Manila) need the shared file system service, which Labs does not run
    "server share": "Manila shares",
    # the volume service (Cinder) is not part of Labs
    "server volume": "Cinder volumes",
    # Keystone federation and OAuth1 consumers: Labs identity has neither
    "federation": "Keystone federation",
    "identity provider": "Keystone federation",
    "service provider": "Keystone federation",
    "mapping": "Keystone federation",
    "consumer": "Keystone OAuth1",
    # the xvpvnc/novnc console token lookup needs a console proxy, which Labs does not run
    "console connection": "console proxies",
    # the compute agent API (Xen guest agents) was removed from Nova (410 Gone)
    "compute agent": "removed from Nova",
}
#: Neutron extensions, by the command family that uses them. Where Labs does not list the
#: extension in /v2.0/extensions, the 404 is Neutron's own answer (an extension that is not
#: loaded has no URLs) and a client knows it from the extension list.
NEUTRON_EXTENSIONS = {
    "address group": "address-group", "address scope": "address-scope",
    "default security group rule": "security-groups-default-rules",
    "floating ip port forwarding": "floating-ip-port-forwarding",
    "ip availability": "network-ip-availability", "local ip": "local_ip",
    "network agent": "agent", "network flavor": "flavors",
    "network l3 conntrack helper": "l3-conntrack-helper", "network meter": "metering",
    "network qos": "qos", "network rbac": "rbac-policies",
    "network segment range": "network-segment-range", "network segment": "segment",
    "network service provider": "service-type", "network subport": "trunk",
    "network trunk": "trunk", "router ndp proxy": "router-ndp-proxy",
    "security group default statefulness": "security-groups-default-statefulness",
    "subnet pool": "subnet_allocation",
}
#: Commands that need one flag to do anything (each variant is run).
VARIANTS = {"quota list": [["--compute"], ["--network"]]}
ID_COLUMNS = ("ID", "Id", "id", "Alias", "Access", "Name", "Type", "Host Name", "Hostname")
#: Commands that answer from the CLI's own configuration, sending no request.
LOCAL = {"configuration show"}
WORKERS = 4
#: Seconds a request may take (the commands run in this process: no subprocess to kill),
#: and all the lists, then all the shows.
REQUEST_TIMEOUT = 30
PHASE_TIMEOUT = 240
UNROUTED = re.compile(r"The resource \S+ was not found")


@dataclass
@dataclass
class Outcome:
    command: str
    returncode: int
    #: (method, url, status, body) of every request the command made
    calls: list[tuple[str, str, int, str]] = field(default_factory=list)


def parse_debug(lines: list[str]) -> list[tuple[str, str, int, str]]:
    """keystoneauth's request log (what `--debug` prints): each request and its answer."""
    calls: list[tuple[str, str, int, str]] = []
    request: tuple[str, str] | None = None
    for line in lines:
        if match := re.match(r"REQ: curl -g -i -X (\w+) (\S+)", line):
            request = (match.group(1), match.group(2))
        elif (match := re.match(r"RESP: \[(\d+)\]", line)) and request is not None:
            calls.append((*request, int(match.group(1)), ""))
        elif line.startswith("RESP BODY:") and calls:
            calls[-1] = (*calls[-1][:3], line[len("RESP BODY:"):].strip())
    return calls


class RequestLog(logging.Handler):
    """keystoneauth's debug lines, kept per thread (a thread runs one command at a time)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: dict[int, list[str]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.setdefault(record.thread or 0, []).append(record.getMessage())

    def take(self) -> list[str]:
        return self.lines.pop(threading.get_ident(), [])


def new_shell() -> Any:
    from openstackclient.shell import OpenStackShell
    return OpenStackShell()


class Cli:
    """The `openstack` shell run in this process, one command at a time per thread: the
    same code as the command (its parsers, its clients, its requests) without paying the
    CLI's start-up for each of some 250 commands."""

    def __init__(self) -> None:
        self.log = RequestLog()
        session_log = logging.getLogger("keystoneauth.session")
        session_log.setLevel(logging.DEBUG)
        session_log.addHandler(self.log)
        self.root_handlers = list(logging.getLogger().handlers)
        self.commands = new_shell()
        self.commands.stdout = io.StringIO()
        self.commands.run(["command", "list", "-f", "json"])  # loads every plugin's group
        self.groups = json.loads(self.commands.stdout.getvalue())
        logging.getLogger().handlers[:] = self.root_handlers

    def run(self, argv: list[str]) -> tuple[int, str]:
        app = new_shell()
        app.stdout, app.stderr = io.StringIO(), io.StringIO()
        self.log.take()
        try:
            code = app.run(["--os-cloud", "labs", *argv])
        except SystemExit as exc:  # argparse refused the arguments
            code = exc.code if isinstance(exc.code, int) else 2
        finally:
            # each run sets up the CLI's logging again: keep only the first set-up
            root = logging.getLogger()
            root.handlers[:] = [h for h in root.handlers if h in self.root_handlers]
        return int(code), str(app.stdout.getvalue())

    def required(self, command: str) -> tuple[list[tuple[str, str | None]], bool]:
        """(name, option) of each positional and required option, in order: ("server",
        None), ("trunk", "--trunk") ...; and whether the command prints JSON."""
        factory, name, _ = self.commands.command_manager.find_command(command.split())
        parser = factory(self.commands, None).get_parser(f"openstack {name}")
        required = [((a.metavar or a.dest).strip("<>").lower().replace("_", "-"),
                     a.option_strings[0] if a.option_strings else None)
                    for a in parser._actions if a.required or not a.option_strings]
        return required, any("-f" in a.option_strings for a in parser._actions)


Arguments = tuple[list[tuple[str, str | None]], bool]


class Runner:
    def __init__(self, cli: Cli, known: dict[str, str], commands: list[str]) -> None:
        self.cli, self.known = cli, known
        self.arguments: dict[str, Arguments] = {c: cli.required(c) for c in commands}
        self.listed: dict[str, Any] = {}

    def run(self, command: str, args: list[str]) -> tuple[Outcome, Any]:
        as_json = ["-f", "json"] if self.arguments[command][1] else []
        code, stdout = self.cli.run([*command.split(), *args, *as_json])
        out = Outcome(" ".join([command, *args]), code, parse_debug(self.cli.log.take()))
        try:
            parsed = json.loads(stdout) if code == 0 else None
        except ValueError:
            parsed = None
        return out, parsed

    def fill(self, argument: tuple[str, str | None]) -> list[str]:
        name, option = argument
        value = self.known.get(name, f"labs-e2e-missing-{name}")
        return [option, value] if option else [value]

    def run_list(self, command: str) -> list[Outcome]:
        args, outcomes = self.arguments[command][0], []
        for variant in VARIANTS.get(command, [[]]):
            outcome, rows = self.run(command, [a for p in args for a in self.fill(p)]
                                     + variant)
            self.listed.setdefault(command, rows)
            outcomes.append(outcome)
        return outcomes

    def run_show(self, command: str) -> Outcome:
        """`X show` of the first row `X list` found (or of a made-up id)."""
        args = self.arguments[command][0]
        rows = self.listed.get(" ".join(command.split()[:-1]) + " list")
        target = _first_id(rows) if args and args[-1][1] is None else None
        parents = [a for p in args[:-1] for a in self.fill(p)]
        everything = [a for p in args for a in self.fill(p)]
        return self.run(command, [*parents, target] if target else everything)[0]


def _first_id(rows: Any) -> str | None:
    if isinstance(rows, list) and rows and isinstance(rows[0], dict):
        for column in ID_COLUMNS:
            if rows[0].get(column):
                return str(rows[0][column])
    return None


def _service(url: str) -> str:
    path = url.split("://", 1)[-1].split("/", 2)
    return path[1] if len(path) > 1 else "?"


def failures(outcome: Outcome, command: str, extensions: set[str],
             unoffered: list[str] | None = None) -> list[str]:
    """What went wrong; `unoffered` collects the 404s of Neutron extensions not listed."""
    found = []
    optional = next((alias for prefix, alias in NEUTRON_EXTENSIONS.items()
                     if command.startswith(prefix + " ")), None)
    for method, url, status, body in outcome.calls:
        unrouted = status == 405 or (status == 404 and bool(UNROUTED.search(body)))
        if unrouted and optional is not None and optional not in extensions:
            if unoffered is not None:  # Neutron without the extension: not offered, and
                unoffered.append(f"{command} ({optional})")  # said so
            continue
        if status >= 500 or unrouted:
            found.append(f"[{_service(url)}] {outcome.command}: {method} {url} -> {status} "
                         f"{body[:160]}")
    return found


@pytest.fixture(scope="module")
def fresh_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    cloud = start_labs_up(tmp_path_factory.mktemp("labs-cli") / "data",
                          {"LABS_AGENT_DRIVER": "fake"})
    try:
        yield cloud
    finally:
        cloud.stop()


def make_resources(cloud: RunningCloud) -> dict[str, str]:
    """One of each parent a read-only command may need."""
    c = cloud
    tag = uuid.uuid4().hex[:6]
    image = c.openstack_json("image", "list", "--name", "labs")[0]["ID"]
    network = c.openstack_json("network", "create", f"cli-net-{tag}")["id"]
    c.openstack("subnet", "create", "--network", network, "--subnet-range", "10.77.0.0/24",
                f"cli-sub-{tag}")
    router = c.openstack_json("router", "create", f"cli-router-{tag}")["id"]
    server = c.openstack_json("server", "create", "--image", image, "--flavor",
                              c.openstack_json("flavor", "list")[0]["ID"], "--network",
                              network, "--wait", f"cli-vm-{tag}")["id"]
    zone = c.openstack_json("zone", "create", "--email", "ops@example.org",
                            f"cli-{tag}.example.org.")["id"]
    user = c.openstack_json("user", "show", "admin")["id"]
    project = c.openstack_json("project", "show", "admin")["id"]
    return {"server": server, "image": image, "network": network, "router": router,
            "zone-id": zone, "zone": zone, "user": user, "project": project,
            "domain": "default", "service": "identity"}


def read_only_commands(cli: Cli) -> list[str]:
    found = [c for g in cli.groups if g["Command Group"] in GROUPS for c in g["Commands"]
             if c.split()[-1] in ("list", "show")]
    return sorted(c for c in found if not any(c.startswith(p + " ") for p in EXCLUDED))


def test_every_read_only_command_reaches_a_routed_url(
        fresh_cloud: RunningCloud, monkeypatch: pytest.MonkeyPatch) -> None:
    cloud = fresh_cloud
    # the cloud's clouds.yaml with a time limit on every request the commands make
    config = yaml.safe_load(cloud.clouds_yaml.read_text())
    for entry in config["clouds"].values():
        entry["api_timeout"] = REQUEST_TIMEOUT
    bounded = cloud.data_dir.parent / "clouds-bounded.yaml"
    bounded.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(bounded))
    cli = Cli()
    commands = read_only_commands(cli)
    assert len(commands) > 100, commands  # the CLI's own list, not a short one
    runner = Runner(cli, make_resources(cloud), commands)
    extensions = {e["Alias"] for e in cloud.openstack_json("extension", "list", "--network")}
    lists = [c for c in commands if c.endswith(" list")]
    shows = [c for c in commands if c.endswith(" show")]
    results: list[tuple[str, Outcome]] = []
    with ThreadPoolExecutor(WORKERS) as pool:
        for command, outcomes in zip(lists, pool.map(runner.run_list, lists,
                                                     timeout=PHASE_TIMEOUT), strict=True):
            results += [(command, o) for o in outcomes]
        results += zip(shows, pool.map(runner.run_show, shows, timeout=PHASE_TIMEOUT),
                       strict=True)
    unoffered: list[str] = []
    problems = sorted(p for command, outcome in results
                      for p in failures(outcome, command, extensions, unoffered))
    report = [f"{o.returncode} {o.command}: " + ", ".join(f"{m} {u} {s}" for m, u, s, _ in
                                                           o.calls[-3:]) for _, o in results]
    (cloud.data_dir.parent / "read-only-commands.txt").write_text("\n".join(
        [*report, "", "not offered (Neutron extensions not listed):",
         *sorted(set(unoffered))]) + "\n")
    assert len(results) >= len(commands)
    silent = [c for c, o in results if not o.calls and c not in LOCAL]
    assert not silent, silent  # every command reached the cloud
    assert not problems, f"{len(problems)} failures:\n" + "\n".join(problems)
