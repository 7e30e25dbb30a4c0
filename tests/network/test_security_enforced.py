"""A group's rules as the network service keeps them, enforced by the bridge driver with
real kernel objects: an egress rule limits what a port may send."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from labs.common.context import RequestContext
from labs.common.db import Database, upgrade
from labs.network.agent.drivers.bridge.driver import BridgeDriver
from labs.network.security_groups import SecurityGroups
from labs.network.specs import PortSpec
from tests.network.conftest import CLOUD_RANGE, network, port
from tests.network.guests import Guest

Guests = Callable[[PortSpec], Guest]
ALICE = RequestContext(user_id="alice", project_id="bots", roles=frozenset({"member"}))


def apply(driver: BridgeDriver, db: Database, groups: SecurityGroups, target: PortSpec,
          names: list[str]) -> None:
    """What the agent does for a port: the rules of its groups, then the driver."""
    with db.reading() as tx:
        rules, members = groups.enforced_rules(tx, "bots", names)
    driver.set_security_rules(target.id, rules, members)


def test_a_port_allowed_only_tcp_80_out_reaches_80_and_not_22(
        driver: BridgeDriver, make_guest: Guests, tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'labs.db'}")
    upgrade(db, "network")
    groups = SecurityGroups(db, CLOUD_RANGE)
    web = groups.create_group(ALICE, "web")
    for rule in web.rules:  # Neutron's allow-all egress rules
        groups.delete_rule(ALICE, rule.id)
    groups.create_rule(ALICE, {"security_group_id": web.id, "direction": "egress",
                               "protocol": "tcp", "port_range_min": 80,
                               "port_range_max": 80})
    server = groups.create_group(ALICE, "server")
    groups.create_rule(ALICE, {"security_group_id": server.id, "direction": "ingress",
                               "protocol": "tcp", "port_range_min": 1,
                               "port_range_max": 65535})
    spec = network("bots", 1)
    driver.ensure_network(spec)
    a, b = port(spec, 5, "a"), port(spec, 6, "b")
    ga, gb = make_guest(a), make_guest(b)
    ga.dhcp()
    gb.dhcp()
    apply(driver, db, groups, a, ["web"])
    apply(driver, db, groups, b, ["server"])
    with gb.listening(80), gb.listening(22), ga.listening(22):
        assert ga.connect(b.ip, 80) == a.ip
        assert ga.connect(b.ip, 22, timeout=0.5) is None
        assert gb.connect(a.ip, 22, timeout=0.5) is None  # web lets nothing in
        # everything out again (as a new group has it): 22 too
        groups.create_rule(ALICE, {"security_group_id": web.id, "direction": "egress"})
        apply(driver, db, groups, a, ["web"])
        assert ga.connect(b.ip, 22) == a.ip
    db.dispose()
