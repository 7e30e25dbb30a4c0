"""The network migrations build exactly the network models, nova-network's security
groups become Neutron's (UUID ids, ingress IPv4 rules, egress rules added) and back, and
networks get subnet rows (and lose their one-per-project limit) and back, on both
engines."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from labs.common.db import Database, alembic_config, schema_drift, upgrade
from labs.network import models
from labs.network.ports import port_id_of
from labs.network.routers import auto_interface_id, auto_router_id
from labs.network.topology import subnet_id_of

#: Migrations are tested on an empty database, never on a reused one.
pytestmark = pytest.mark.fresh_database


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


def _one_network_per_project(db: Database) -> None:
    """Two projects' networks as revision 0002 made them, one address of each held."""
    with db.engine.begin() as conn:
        for net_id, project, cidr, ext in (("n1", "p1", "10.68.0.0/29", "172.24.4.254"),
                                           ("n2", "p2", "10.68.0.8/29", None)):
            conn.execute(sa.text(
                "INSERT INTO network (id, project_id, label, cidr, gateway, external_ip, "
                "created_at) VALUES (:i, :p, 'lan', :c, :g, :e, :t)"),
                {"i": net_id, "p": project, "c": cidr, "e": ext,
                 "g": cidr.replace(".0/29", ".1").replace(".8/29", ".9"),
                 "t": datetime(2026, 1, 2, 3, 4, 5)})
            base = 0 if net_id == "n1" else 8
            for host in range(2, 7):
                conn.execute(sa.text(
                    "INSERT INTO fixed_ip (network_id, address, number, instance_id) "
                    "VALUES (:n, :a, :num, :inst)"),
                    {"n": net_id, "a": f"10.68.0.{base + host}", "num": base + host,
                     "inst": f"vm-{net_id}" if host == 2 else None})


def test_networks_get_subnet_rows_with_the_ids_shown_before_and_back(db_url: str) -> None:
    db = Database(db_url)
    cfg = alembic_config(db, "network")
    command.upgrade(cfg, "0002")
    _one_network_per_project(db)
    command.upgrade(cfg, "0004")
    with db.engine.connect() as conn:
        nets = {r.id: r for r in conn.execute(sa.text("SELECT * FROM network"))}
        subnets = {r.network_id: r for r in conn.execute(sa.text("SELECT * FROM subnet"))}
        fixed = list(conn.execute(sa.text("SELECT network_id, subnet_id FROM fixed_ip")))
        held = list(conn.execute(sa.text(
            "SELECT instance_id, project_id FROM fixed_ip WHERE project_id IS NOT NULL")))
    assert {n: (r.default_of_project, r.mtu, bool(r.shared), bool(r.admin_state_up),
                r.revision_number, r.description, r.updated_at == r.created_at)
            for n, r in nets.items()} == {
        "n1": ("p1", 1500, False, True, 0, "", True), "n2": ("p2", 1500, False, True, 0, "",
                                                           True)}
    n1 = subnets["n1"]
    assert n1.id == subnet_id_of("n1") and n1.cidr == "10.68.0.0/29"
    assert (n1.gateway_ip, n1.project_id, n1.name, bool(n1.enable_dhcp)) == (
        "10.68.0.1", "p1", "lan-subnet", True)
    pools = n1.allocation_pools if isinstance(n1.allocation_pools, list) else \
        json.loads(n1.allocation_pools)
    assert pools == [{"start": "10.68.0.2", "end": "10.68.0.6"}]
    assert subnets["n2"].gateway_ip == "10.68.0.9"
    assert sorted(set(fixed)) == [("n1", subnet_id_of("n1")), ("n2", subnet_id_of("n2"))]
    assert sorted(tuple(r) for r in held) == [("vm-n1", "p1"), ("vm-n2", "p2")]
    command.upgrade(cfg, "head")
    assert schema_drift(db, models.NetworkBase.metadata) == []
    with db.engine.begin() as conn:  # a second network of p1 is allowed now
        conn.execute(sa.text(
            "INSERT INTO network (id, project_id, label, description, shared, admin_state_up,"
            " mtu, revision_number, created_at, updated_at) VALUES ('n3', 'p1', 'x', '', "
            ":f, :t, 1500, 0, :w, :w)"), {"f": False, "t": True, "w": datetime(2026, 1, 3)})

    command.downgrade(cfg, "0002")
    with db.engine.connect() as conn:
        back = sorted(tuple(r) for r in conn.execute(sa.text(
            "SELECT id, project_id, cidr, gateway, external_ip FROM network")))
        held = list(conn.execute(sa.text(
            "SELECT address FROM fixed_ip WHERE instance_id IS NOT NULL ORDER BY address")))
    db.dispose()
    assert back == [("n1", "p1", "10.68.0.0/29", "10.68.0.1", "172.24.4.254"),
                    ("n2", "p2", "10.68.0.8/29", "10.68.0.9", None)]
    assert [r.address for r in held] == ["10.68.0.10", "10.68.0.2"]


def test_tags_and_floating_ip_revisions_come_and_go(db_url: str) -> None:
    db = Database(db_url)
    cfg = alembic_config(db, "network")
    command.upgrade(cfg, "0004")
    with db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO floating_ip (address, number, pool, project_id) "
                             "VALUES ('172.24.4.2', 1, 'public', 'p1')"))
    command.upgrade(cfg, "0007")
    with db.engine.begin() as conn:
        assert [tuple(r) for r in conn.execute(sa.text(
            "SELECT address, revision_number FROM floating_ip"))] == [("172.24.4.2", 0)]
        conn.execute(sa.text("INSERT INTO resource_tag (resource_type, resource_id, tag) "
                             "VALUES ('networks', 'n1', 'Blue'), ('networks', 'n1', 'blue')"))
    command.downgrade(cfg, "0004")
    with db.engine.connect() as conn:
        assert not sa.inspect(conn).has_table("resource_tag")
        assert "revision_number" not in {
            c["name"] for c in sa.inspect(conn).get_columns("floating_ip")}


def test_networks_with_an_uplink_get_a_router_of_their_own_and_back(db_url: str) -> None:
    db = Database(db_url)
    cfg = alembic_config(db, "network")
    command.upgrade(cfg, "0002")
    _one_network_per_project(db)
    command.upgrade(cfg, "0004")
    command.upgrade(cfg, "0005")
    with db.engine.connect() as conn:
        routers = [r._mapping for r in conn.execute(sa.text("SELECT * FROM router"))]
        joined = [tuple(r) for r in conn.execute(sa.text(
            "SELECT id, router_id, subnet_id, network_id FROM router_interface"))]
    (router,) = routers  # n2 had no uplink address: no way out, no router
    assert router["id"] == auto_router_id("n1")
    assert (router["project_id"], router["name"], router["external_ip"],
            bool(router["external_gateway"]), bool(router["enable_snat"]),
            bool(router["admin_state_up"]), router["status"]) == (
        "p1", "lan-router", "172.24.4.254", True, True, True, "ACTIVE")
    assert joined == [(auto_interface_id(subnet_id_of("n1")), auto_router_id("n1"),
                       subnet_id_of("n1"), "n1")]
    with db.engine.begin() as conn:  # an address is one router's at most
        try:
            conn.execute(sa.text(
                "INSERT INTO router (id, project_id, name, description, admin_state_up, "
                "status, external_gateway, external_ip, enable_snat, revision_number, "
                "created_at, updated_at) VALUES ('r2', 'p2', '', '', :t, 'ACTIVE', :t, "
                "'172.24.4.254', :t, 0, :w, :w)"), {"t": True, "w": datetime(2026, 1, 3)})
        except sa.exc.IntegrityError:
            pass
        else:
            raise AssertionError("two routers hold one address")
    command.downgrade(cfg, "0004")
    with db.engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        kept = list(conn.execute(sa.text("SELECT external_ip FROM network WHERE id = 'n1'")))
    db.dispose()
    assert not {"router", "router_interface"} & tables
    assert [r.external_ip for r in kept] == ["172.24.4.254"]


def test_held_addresses_become_ports_with_the_ids_shown_before_and_back(db_url: str) -> None:
    db = Database(db_url)
    cfg = alembic_config(db, "network")
    command.upgrade(cfg, "0002")
    _one_network_per_project(db)
    command.upgrade(cfg, "0004")
    command.upgrade(cfg, "0006")
    with db.engine.connect() as conn:
        ports = {r.id: r for r in conn.execute(sa.text("SELECT * FROM port"))}
        held = {r.address: (r.port_id, r.instance_id, r.mac) for r in conn.execute(
            sa.text("SELECT * FROM fixed_ip WHERE port_id IS NOT NULL"))}
    assert sorted(ports) == sorted([port_id_of("vm-n1"), port_id_of("vm-n2")])
    one = ports[port_id_of("vm-n1")]
    assert (one.network_id, one.project_id, one.device_id, one.device_owner, one.status,
            bool(one.auto_delete), bool(one.port_security_enabled)) == (
        "n1", "p1", "vm-n1", "compute:nova", "ACTIVE", True, True)
    assert held == {"10.68.0.2": (port_id_of("vm-n1"), "vm-n1", one.mac_address),
                    "10.68.0.10": (port_id_of("vm-n2"), "vm-n2",
                                   ports[port_id_of("vm-n2")].mac_address)}
    assert one.mac_address.startswith("fa:16:3e:")
    with db.engine.begin() as conn:  # a port made through the API holds an address
        conn.execute(sa.text("UPDATE fixed_ip SET port_id = 'x', project_id = 'p1', "
                             "mac = 'fa:16:3e:00:00:01' WHERE address = '10.68.0.3'"))

    command.downgrade(cfg, "0004")
    with db.engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        back = sorted((r.address, r.instance_id, r.project_id) for r in conn.execute(
            sa.text("SELECT * FROM fixed_ip WHERE project_id IS NOT NULL")))
    db.dispose()
    assert "port" not in tables
    assert back == [("10.68.0.10", "vm-n2", "p2"), ("10.68.0.2", "vm-n1", "p1")]


def test_an_instance_holds_an_address_per_network_in_nic_order_and_back(
        db_url: str) -> None:
    """0008: held addresses are their instance's first NIC; an instance then holds one
    address per network (a second on the same network is refused); back at 0007 its
    NICs past the first let theirs go (their ports unbound)."""
    db = Database(db_url)
    cfg = alembic_config(db, "network")
    command.upgrade(cfg, "0002")
    _one_network_per_project(db)
    command.upgrade(cfg, "0007")
    command.upgrade(cfg, "0008")
    with db.engine.begin() as conn:
        assert [tuple(r) for r in conn.execute(sa.text(
            "SELECT address, nic_index FROM fixed_ip WHERE instance_id = 'vm-n1'"))] == [
            ("10.68.0.2", 0)]
        conn.execute(sa.text("UPDATE fixed_ip SET instance_id = 'vm-n1', nic_index = 1, "
                             "port_id = :p WHERE address = '10.68.0.10'"),
                     {"p": port_id_of("vm-n2")})
    with db.engine.begin() as conn:
        try:
            conn.execute(sa.text("UPDATE fixed_ip SET instance_id = 'vm-n1' "
                                 "WHERE address = '10.68.0.3'"))
        except sa.exc.IntegrityError:
            pass
        else:
            raise AssertionError("an instance holds two addresses of one network")
    command.downgrade(cfg, "0007")
    with db.engine.connect() as conn:
        held = sorted(tuple(r) for r in conn.execute(sa.text(
            "SELECT address, instance_id FROM fixed_ip WHERE instance_id IS NOT NULL")))
        port = conn.execute(sa.text("SELECT device_id, status FROM port WHERE id = :p"),
                            {"p": port_id_of("vm-n2")}).one()
        columns = {c["name"] for c in sa.inspect(conn).get_columns("fixed_ip")}
    db.dispose()
    assert held == [("10.68.0.2", "vm-n1")]
    assert tuple(port) == ("", "DOWN") and "nic_index" not in columns


def test_the_ports_compute_made_take_their_servers_groups(db_url: str) -> None:
    db = Database(db_url)
    cfg = alembic_config(db, "network")
    command.upgrade(cfg, "0002")
    _one_network_per_project(db)
    command.upgrade(cfg, "0007")
    when = datetime(2026, 1, 2, 3, 4, 5)
    with db.engine.begin() as conn:  # compute's servers, in the same database
        conn.execute(sa.text("CREATE TABLE instance (id VARCHAR(64) PRIMARY KEY, "
                             "security_groups TEXT NOT NULL)"))
        conn.execute(sa.text("INSERT INTO instance VALUES ('vm-n1', :a), ('vm-n2', '[]')"),
                     {"a": json.dumps(["web", "gone"])})
        for group_id, project, name in (("g-web", "p1", "web"), ("g-d1", "p1", "default"),
                                        ("g-d2", "p2", "default")):
            conn.execute(sa.text(
                "INSERT INTO security_group (id, project_id, name, description, stateful, "
                "revision_number, created_at, updated_at) "
                "VALUES (:i, :p, :n, '', :s, 0, :t, :t)"),
                {"i": group_id, "p": project, "n": name, "s": True, "t": when})
    try:
        command.upgrade(cfg, "0009")
        with db.engine.connect() as conn:
            groups = {r.device_id: json.loads(r.security_groups) if isinstance(
                r.security_groups, str) else r.security_groups for r in conn.execute(
                sa.text("SELECT device_id, security_groups FROM port"))}
        assert groups == {"vm-n1": ["g-web"], "vm-n2": ["g-d2"]}
    finally:
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE instance"))
        db.dispose()
