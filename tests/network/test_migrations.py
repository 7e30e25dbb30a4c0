"""The network migrations build exactly the network models, and nova-network's security
groups become Neutron's (UUID ids, ingress IPv4 rules, egress rules added) and back, on
both engines."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from alembic import command

from labs.common.db import Database, alembic_config, schema_drift, upgrade
from labs.network import models


def test_migrations_build_exactly_the_models(db_url: str) -> None:
    db = Database(db_url)
    upgrade(db, "network")
    upgrade(db, "network")  # a second run is a no-op
    diff = schema_drift(db, models.NetworkBase.metadata)
    db.dispose()
    assert diff == []


def _nova_network_rows(db: Database) -> None:
    with db.engine.begin() as conn:
        for group_id, project, name in ((1, "p1", "default"), (2, "p1", "web"),
                                        (3, "p2", "default")):
            conn.execute(sa.text("INSERT INTO security_group (id, project_id, name, "
                                 "description) VALUES (:i, :p, :n, :n)"),
                         {"i": group_id, "p": project, "n": name})
        rows = [(1, "icmp", -1, -1, None, 1), (1, "tcp", 1, 65535, None, 1),
                (1, "icmp", -1, -1, "0.0.0.0/0", None), (1, "tcp", 22, 22, "10.68.0.0/16", None),
                (2, "tcp", 80, 80, "192.0.2.0/24", None), (2, "icmp", 8, -1, "0.0.0.0/0", None),
                (2, "udp", 53, 53, None, 1)]
        for group_id, protocol, low, high, cidr, remote in rows:
            conn.execute(sa.text(
                "INSERT INTO security_group_rule (group_id, protocol, from_port, to_port, cidr,"
                " remote_group_id) VALUES (:g, :p, :lo, :hi, :c, :r)"),
                {"g": group_id, "p": protocol, "lo": low, "hi": high, "c": cidr, "r": remote})


def _rules(db: Database) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        groups = {r.id: (r.project_id, r.name) for r in conn.execute(
            sa.text("SELECT * FROM security_group"))}
        out = []
        for row in conn.execute(sa.text("SELECT * FROM security_group_rule")):
            rule = dict(row._mapping)
            rule["group"] = groups[rule.pop("group_id")]
            remote = rule.pop("remote_group_id")
            rule["remote"] = groups[remote] if remote is not None else None
            out.append(rule)
        return out


def test_nova_network_groups_become_neutrons_and_back(db_url: str) -> None:
    db = Database(db_url)
    cfg = alembic_config(db, "network")
    command.upgrade(cfg, "0001")
    _nova_network_rows(db)
    command.upgrade(cfg, "head")
    with db.engine.connect() as conn:
        groups = list(conn.execute(sa.text("SELECT * FROM security_group")))
    assert len(groups) == 3 and all(uuid.UUID(g.id) for g in groups)
    assert all(g.revision_number == 0 and g.stateful and g.created_at for g in groups)
    rules = _rules(db)
    assert all(uuid.UUID(r["id"]) and r["created_at"] for r in rules)
    shape = sorted((r["group"], r["direction"], r["ethertype"], r["protocol"] or "",
                    r["port_range_min"] or 0, r["port_range_max"] or 0,
                    r["remote_ip_prefix"] or "", r["remote"] or ()) for r in rules)
    p1, web, p2 = ("p1", "default"), ("p1", "web"), ("p2", "default")
    assert shape == sorted([
        (p1, "ingress", "IPv4", "icmp", 0, 0, "", p1),
        (p1, "ingress", "IPv4", "tcp", 1, 65535, "", p1),
        (p1, "ingress", "IPv4", "icmp", 0, 0, "0.0.0.0/0", ()),
        (p1, "ingress", "IPv4", "tcp", 22, 22, "10.68.0.0/16", ()),
        (web, "ingress", "IPv4", "tcp", 80, 80, "192.0.2.0/24", ()),
        (web, "ingress", "IPv4", "icmp", 8, 0, "0.0.0.0/0", ()),
        (web, "ingress", "IPv4", "udp", 53, 53, "", p1),
        *[(g, "egress", family, "", 0, 0, "", ()) for g in (p1, web, p2)
          for family in ("IPv4", "IPv6")]])
    assert schema_drift(db, models.NetworkBase.metadata) == []

    command.downgrade(cfg, "0001")
    back = sorted((r["group"], r["protocol"], r["from_port"], r["to_port"], r["cidr"] or "",
                   r["remote"] or ()) for r in _rules(db))
    db.dispose()
    assert back == sorted([
        (p1, "icmp", -1, -1, "", p1), (p1, "tcp", 1, 65535, "", p1),
        (p1, "icmp", -1, -1, "0.0.0.0/0", ()), (p1, "tcp", 22, 22, "10.68.0.0/16", ()),
        (web, "tcp", 80, 80, "192.0.2.0/24", ()), (web, "icmp", 8, -1, "0.0.0.0/0", ()),
        (web, "udp", 53, 53, "", p1)])
