"""What the bridge driver remembers about its networks and ports, in JSON files.

Layout under the state directory: ``networks/<network id>/network.json`` (the spec) and
``networks/<network id>/ports/<port id>.json`` (one port: its spec, device, security
rules and floating IPs). Each file is written whole to a temporary file and moved into
place, so a restarted agent always reads complete records. A port's file is written
before its kernel objects are made and removed after they are gone, so a crash leaves a
record that names what to clean up.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast

from labs.network.agent.drivers.base import NicKind
from labs.network.instance_spec import AddressPair
from labs.network.specs import NetworkSpec, PortSpec, SecurityRule, check_ipv4

FORMAT = 1


@dataclass(frozen=True)
class PortRecord:
    """A plugged port as the driver keeps it."""

    port: PortSpec
    kind: NicKind
    device: str
    peer: str | None = None
    rules: tuple[SecurityRule, ...] = ()
    group_members: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    floating_ips: tuple[str, ...] = ()
    #: False: the port is not filtered at all (no rules, no anti-spoofing).
    port_security: bool = True
    #: What it may send from besides its own MAC and IP.
    allowed_pairs: tuple[AddressPair, ...] = ()

    def with_rules(self, rules: Sequence[SecurityRule],
                   group_members: Mapping[str, Sequence[str]], port_security: bool = True,
                   allowed_pairs: Sequence[AddressPair] = ()) -> PortRecord:
        """The record with these rules, members (IPv4 addresses, else InvalidRequest)
        and port security."""
        for member in [m for members in group_members.values() for m in members]:
            check_ipv4("group member", member)
        groups = {r.remote_group for r in rules if r.remote_group is not None}
        members = {g: tuple(group_members.get(g, ())) for g in sorted(groups)}
        return replace(self, rules=tuple(rules), group_members=members,
                       port_security=port_security, allowed_pairs=tuple(allowed_pairs))

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "port": asdict(self.port), "kind": self.kind,
                "device": self.device, "peer": self.peer,
                "rules": [asdict(r) for r in self.rules],
                "group_members": {k: list(v) for k, v in self.group_members.items()},
                "floating_ips": list(self.floating_ips),
                "port_security": self.port_security,
                "allowed_pairs": [asdict(p) for p in self.allowed_pairs]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PortRecord:
        return cls(port=PortSpec(**data["port"]),
                   kind=cast(Literal["tap", "veth"], data["kind"]),
                   device=data["device"], peer=data["peer"],
                   rules=tuple(SecurityRule(**r) for r in data["rules"]),
                   group_members={k: tuple(v) for k, v in data["group_members"].items()},
                   floating_ips=tuple(data["floating_ips"]),
                   port_security=bool(data.get("port_security", True)),
                   allowed_pairs=tuple(AddressPair(**p) for p in data.get(
                       "allowed_pairs", ())))


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


class StateStore:
    """The driver's records under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.networks_dir = root / "networks"

    def network_dir(self, network_id: str) -> Path:
        return self.networks_dir / network_id

    def network_ids(self) -> list[str]:
        if not self.networks_dir.is_dir():
            return []
        return sorted(p.name for p in self.networks_dir.iterdir()
                      if (p / "network.json").is_file())

    def load_network(self, network_id: str) -> NetworkSpec | None:
        try:
            data = json.loads((self.network_dir(network_id) / "network.json").read_text())
        except FileNotFoundError:
            return None
        return NetworkSpec(**data["spec"])

    def save_network(self, spec: NetworkSpec) -> None:
        directory = self.network_dir(spec.id)
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o755)
        _write_json(directory / "network.json", {"format": FORMAT, "spec": asdict(spec)})

    def drop_network(self, network_id: str) -> None:
        shutil.rmtree(self.network_dir(network_id), ignore_errors=True)

    def ports(self, network_id: str) -> list[PortRecord]:
        directory = self.network_dir(network_id) / "ports"
        if not directory.is_dir():
            return []
        return [PortRecord.from_json(json.loads(p.read_text()))
                for p in sorted(directory.glob("*.json"))]

    def find_port(self, port_id: str) -> PortRecord | None:
        for network_id in self.network_ids():
            path = self.network_dir(network_id) / "ports" / f"{port_id}.json"
            if path.is_file():
                return PortRecord.from_json(json.loads(path.read_text()))
        return None

    def save_port(self, record: PortRecord) -> None:
        path = self.network_dir(record.port.network_id) / "ports" / f"{record.port.id}.json"
        _write_json(path, record.to_json())

    def drop_port(self, record: PortRecord) -> None:
        path = self.network_dir(record.port.network_id) / "ports" / f"{record.port.id}.json"
        path.unlink(missing_ok=True)
