"""Security groups and rules with Neutron's semantics, at the service: the default group,
each check a rule passes, duplicates, groups in use, other projects' groups, quotas under
concurrent creates, and the rules the hosts get (on SQLite and MariaDB)."""

from __future__ import annotations

import concurrent.futures
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from labs.common.context import RequestContext
from labs.common.db import Database, upgrade
from labs.common.errors import BadRequest, Conflict, LabsError, NotFound
from labs.common.row_locks import ensure_lock_row, take_lock
from labs.network.quota import OverQuota
from labs.network.security_groups import NOTHING_OUT, SecurityGroups
from labs.network.security_rules import (
    SecurityGroupCannotRemoveDefault,
    SecurityGroupCannotUpdateDefault,
    SecurityGroupDefaultAlreadyExists,
    SecurityGroupInUse,
    SecurityGroupNotFound,
    SecurityGroupRuleExists,
)
from labs.network.specs import SecurityRule

SSH_FROM = "10.68.0.0/16"
ALICE = RequestContext(user_id="alice", project_id="p1", roles=frozenset({"member"}))
BOB = RequestContext(user_id="bob", project_id="p2", roles=frozenset({"member"}))
ADMIN = RequestContext(user_id="admin", project_id="p0", roles=frozenset({"admin"}))


class LockBase(DeclarativeBase):
    metadata = sa.MetaData()


class QuotaLock(LockBase):
    __tablename__ = "test_security_group_quota_lock"
    project_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    version: Mapped[int]


class RowQuota:
    """The project's lock row (as every Labs quota takes it) and fixed limits."""

    def __init__(self, db: Database, **limits: int) -> None:
        self.db, self.limits = db, limits

    def ready(self, project_id: str) -> None:
        ensure_lock_row(self.db, QuotaLock, project_id)

    def lock(self, tx: Session, project_id: str) -> Mapping[str, int]:
        take_lock(tx, QuotaLock, project_id)
        return self.limits


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    upgrade(database, "network")
    LockBase.metadata.create_all(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def groups(db: Database) -> SecurityGroups:
    return SecurityGroups(db, SSH_FROM)


def shape(rule: Any) -> tuple[Any, ...]:
    return (rule.direction, rule.ethertype, rule.protocol, rule.port_range_min,
            rule.port_range_max, rule.remote_ip_prefix, rule.remote_group_id)


def tcp(group_id: str, port: int, **more: Any) -> dict[str, Any]:
    return {"security_group_id": group_id, "direction": "ingress", "protocol": "tcp",
            "port_range_min": port, "port_range_max": port, **more}


# -- groups --------------------------------------------------------------------------------

def test_default_group_has_neutrons_rules_and_labs_own(groups: SecurityGroups) -> None:
    (default,) = groups.list_groups(ALICE, "p1")
    assert (default.name, default.project_id, default.stateful) == ("default", "p1", True)
    assert sorted(map(shape, default.rules), key=str) == sorted([
        ("egress", "IPv4", None, None, None, None, None),
        ("egress", "IPv6", None, None, None, None, None),
        ("ingress", "IPv4", None, None, None, None, default.id),
        ("ingress", "IPv6", None, None, None, None, default.id),
        ("ingress", "IPv4", "icmp", None, None, "0.0.0.0/0", None),
        ("ingress", "IPv4", "tcp", 22, 22, SSH_FROM, None)], key=str)
    assert all(r.project_id == "p1" and r.group_id == default.id for r in default.rules)
    assert groups.list_groups(ALICE, "p1") == [default]  # made once
    assert groups.get(ALICE, default.id) == default


def test_group_create_update_delete(groups: SecurityGroups) -> None:
    web = groups.create_group(ALICE, "web", "front")
    assert (web.name, web.description, web.project_id) == ("web", "front", "p1")
    assert sorted(map(shape, web.rules), key=str) == [
        ("egress", "IPv4", None, None, None, None, None),
        ("egress", "IPv6", None, None, None, None, None)]
    assert [g.name for g in groups.list_groups(ALICE, "p1")] == ["default", "web"]
    with pytest.raises(SecurityGroupDefaultAlreadyExists):
        groups.create_group(ALICE, "default")
    with pytest.raises(Conflict):
        groups.create_group(ALICE, "web")
    with pytest.raises(BadRequest):
        groups.create_group(ALICE, "x" * 256)
    changed = groups.update_group(ALICE, web.id, {"name": "www", "description": "d"})
    assert (changed.name, changed.description) == ("www", "d")
    assert changed.revision_number > web.revision_number
    assert changed.updated_at >= web.updated_at and changed.created_at == web.created_at
    default = groups.list_groups(ALICE, "p1")[0]
    with pytest.raises(SecurityGroupCannotUpdateDefault):
        groups.update_group(ALICE, default.id, {"name": "other"})
    with pytest.raises(SecurityGroupDefaultAlreadyExists):
        groups.update_group(ALICE, web.id, {"name": "default"})
    assert groups.update_group(ALICE, default.id, {"description": "ours"}).name == "default"
    with pytest.raises(SecurityGroupInUse):
        groups.delete_group(ALICE, web.id, in_use=True)
    assert groups.delete_group(ALICE, web.id, in_use=False) == "p1"
    with pytest.raises(SecurityGroupNotFound):
        groups.get(ALICE, web.id)


def test_default_group_goes_only_by_an_admin(groups: SecurityGroups) -> None:
    (default,) = groups.list_groups(ALICE, "p1")
    with pytest.raises(SecurityGroupCannotRemoveDefault) as refused:
        groups.delete_group(ALICE, default.id, in_use=False)
    assert refused.value.code == 409
    assert groups.delete_group(ADMIN, default.id, in_use=False) == "p1"
    (again,) = groups.list_groups(ALICE, "p1")  # the project gets a new one
    assert again.id != default.id and len(again.rules) == 6


def test_deleting_a_group_takes_the_rules_naming_it(groups: SecurityGroups) -> None:
    web, db_group = groups.create_group(ALICE, "web"), groups.create_group(ALICE, "db")
    groups.create_rule(ALICE, tcp(db_group.id, 3306, remote_group_id=web.id))
    groups.delete_group(ALICE, web.id, in_use=False)
    assert [r.remote_group_id for r in groups.get(ALICE, db_group.id).rules] == [None, None]


def test_other_projects_groups_are_invisible(groups: SecurityGroups) -> None:
    web = groups.create_group(ALICE, "web")
    rule = groups.create_rule(ALICE, tcp(web.id, 80))
    theirs = groups.create_group(BOB, "db")
    assert [g.name for g in groups.list_groups(BOB, "p2")] == ["default", "db"]
    for attempt in (lambda: groups.get(BOB, web.id),
                    lambda: groups.update_group(BOB, web.id, {"name": "mine"}),
                    lambda: groups.delete_group(BOB, web.id, in_use=False),
                    lambda: groups.create_rule(BOB, tcp(web.id, 81)),
                    lambda: groups.create_rule(ALICE, tcp(web.id, 82,
                                                          remote_group_id=theirs.id)),
                    lambda: groups.get_rule(BOB, rule.id),
                    lambda: groups.delete_rule(BOB, rule.id),
                    lambda: groups.get(ALICE, "not-a-group")):
        with pytest.raises(NotFound):
            attempt()
    assert groups.get(ADMIN, web.id).name == "web"
    assert {g.project_id for g in groups.list_groups(ADMIN, None)} >= {"p1", "p2"}
    assert groups.get_rule(ALICE, rule.id) == rule
    assert groups.delete_rule(ALICE, rule.id) == "p1"
    with pytest.raises(NotFound):
        groups.delete_rule(ALICE, rule.id)


# -- rules ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "stored"), [
    ({"protocol": "tcp", "port_range_min": 80, "port_range_max": 90},
     ("ingress", "IPv4", "tcp", 80, 90, None)),
    ({"protocol": "6", "port_range_min": "22", "port_range_max": "22"},
     ("ingress", "IPv4", "tcp", 22, 22, None)),
    ({"protocol": 17, "direction": "egress"}, ("egress", "IPv4", "udp", None, None, None)),
    ({"protocol": "ICMP", "port_range_min": 8, "port_range_max": 0},
     ("ingress", "IPv4", "icmp", 8, 0, None)),
    ({"protocol": "icmp", "port_range_min": 8}, ("ingress", "IPv4", "icmp", 8, None, None)),
    ({"protocol": "icmp", "ethertype": "IPv6"}, ("ingress", "IPv6", "ipv6-icmp", None, None,
                                                 None)),
    ({"protocol": "58", "ethertype": "ipv6"}, ("ingress", "IPv6", "ipv6-icmp", None, None,
                                               None)),
    ({"protocol": "sctp", "port_range_min": 1, "port_range_max": 65535},
     ("ingress", "IPv4", "sctp", 1, 65535, None)),
    ({"protocol": "gre"}, ("ingress", "IPv4", "gre", None, None, None)),
    ({"protocol": "47"}, ("ingress", "IPv4", "gre", None, None, None)),
    ({"protocol": 200}, ("ingress", "IPv4", "200", None, None, None)),
    ({"protocol": "any", "remote_ip_prefix": "10.1.2.3/8"},
     ("ingress", "IPv4", None, None, None, "10.0.0.0/8")),
    ({"ethertype": "IPv6", "remote_ip_prefix": "2001:db8::/32", "direction": "egress"},
     ("egress", "IPv6", None, None, None, "2001:db8::/32")),
])
def test_good_rules(groups: SecurityGroups, fields: dict[str, Any],
                    stored: tuple[Any, ...]) -> None:
    web = groups.create_group(ALICE, "web")
    made = groups.create_rule(ALICE, {"security_group_id": web.id, "direction": "ingress",
                                      "description": "why", **fields})
    assert shape(made)[:6] == stored
    assert (made.group_id, made.project_id, made.description) == (web.id, "p1", "why")
    assert made in groups.get(ALICE, web.id).rules
    assert groups.get(ALICE, web.id).revision_number > web.revision_number


@pytest.mark.parametrize(("fields", "words"), [
    ({"direction": None}, "direction"),
    ({"direction": "inbound"}, "direction"),
    ({"ethertype": "IPv5"}, "ethertype"),
    ({"protocol": "foo"}, "protocol foo not supported"),
    ({"protocol": 256}, "not supported"),
    ({"protocol": "-1"}, "not supported"),
    ({"protocol": True}, "not supported"),
    ({"protocol": "ipv6-icmp"}, "conflicts with ethertype"),
    ({"protocol": "tcp", "port_range_min": 100, "port_range_max": 50}, "port_range_min"),
    ({"protocol": "tcp", "port_range_min": 0, "port_range_max": 0}, "1-65535"),
    ({"protocol": "udp", "port_range_min": 1, "port_range_max": 65536}, "1-65535"),
    ({"protocol": "tcp", "port_range_min": 22}, "port_range_min"),
    ({"protocol": "tcp", "port_range_min": "eighty", "port_range_max": 80}, "integer"),
    ({"port_range_min": 22, "port_range_max": 22}, "protocol"),
    ({"protocol": "gre", "port_range_min": 1, "port_range_max": 2}, "Invalid protocol gre"),
    ({"protocol": "icmp", "port_range_min": 256}, "ICMP type"),
    ({"protocol": "icmp", "port_range_min": 8, "port_range_max": 256}, "ICMP code"),
    ({"protocol": "icmp", "port_range_max": 0}, "type (port-range-min) is missing"),
    ({"remote_ip_prefix": "10.0.0.0/33"}, "CIDR"),
    ({"remote_ip_prefix": "not-a-cidr"}, "CIDR"),
    ({"remote_ip_prefix": "2001:db8::/32"}, "Conflicting value ethertype IPv4"),
    ({"ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}, "ethertype IPv6"),
    ({"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "GROUP"},
     "Only remote_ip_prefix or remote_group_id"),
    ({"description": "d" * 256}, "description"),
    ({"security_group_id": None}, "security_group_id"),
])
def test_bad_rules(groups: SecurityGroups, fields: dict[str, Any], words: str) -> None:
    web = groups.create_group(ALICE, "web")
    if fields.get("remote_group_id") == "GROUP":
        fields = {**fields, "remote_group_id": web.id}
    with pytest.raises(BadRequest) as refused:
        groups.create_rule(ALICE, {"security_group_id": web.id, "direction": "ingress",
                                   **fields})
    assert refused.value.code == 400 and words in refused.value.message
    assert len(groups.get(ALICE, web.id).rules) == 2  # only the egress rules


def test_a_missing_group_is_404(groups: SecurityGroups) -> None:
    web = groups.create_group(ALICE, "web")
    for fields in ({"security_group_id": "nope"},
                   {"security_group_id": web.id, "remote_group_id": "nope"}):
        with pytest.raises(NotFound):
            groups.create_rule(ALICE, {"direction": "ingress", **fields})


def test_a_rule_the_group_has_is_a_conflict(groups: SecurityGroups) -> None:
    web = groups.create_group(ALICE, "web")
    first = groups.create_rule(ALICE, tcp(web.id, 443))
    for again in (tcp(web.id, 443), tcp(web.id, 443, protocol="6", description="other"),
                  tcp(web.id, 443, remote_ip_prefix="0.0.0.0/0")):
        with pytest.raises(SecurityGroupRuleExists) as refused:
            groups.create_rule(ALICE, again)
        assert refused.value.code == 409 and first.id in refused.value.message
    with pytest.raises(SecurityGroupRuleExists):  # Neutron's egress rules are there already
        groups.create_rule(ALICE, {"security_group_id": web.id, "direction": "egress"})
    # the same ports from elsewhere, or out instead of in, are other rules
    groups.create_rule(ALICE, tcp(web.id, 443, remote_ip_prefix="192.0.2.0/24"))
    groups.create_rule(ALICE, tcp(web.id, 443, direction="egress"))


# -- quotas --------------------------------------------------------------------------------

ATTEMPTS, ROOM = 12, 4


def race(attempt: Callable[[int], object]) -> Counter[str]:
    """``ATTEMPTS`` calls at once; how many succeeded and how many met each error."""
    def outcome(i: int) -> str:
        try:
            attempt(i)
        except LabsError as exc:
            return type(exc).__name__
        return "made"
    with concurrent.futures.ThreadPoolExecutor(ATTEMPTS) as pool:
        return Counter(pool.map(outcome, range(ATTEMPTS)))


def test_group_quota_holds_under_concurrent_creates(db: Database,
                                                    groups: SecurityGroups) -> None:
    groups.list_groups(ALICE, "p1")  # default counts, as in Neutron
    quota = RowQuota(db, security_group=ROOM + 1)
    outcomes = race(lambda i: groups.create_group(ALICE, f"g{i}", quota=quota))
    assert outcomes == {"made": ROOM, "OverQuota": ATTEMPTS - ROOM}
    assert len(groups.list_groups(ALICE, "p1")) == ROOM + 1
    with pytest.raises(OverQuota) as refused:
        groups.create_group(ALICE, "more", quota=quota)
    assert refused.value.code == 409
    assert refused.value.message == "Quota exceeded for resources: ['security_group']."
    assert len(groups.list_groups(BOB, "p2")) == 1  # another project's room is its own
    groups.create_group(BOB, "theirs", quota=quota)


def test_rule_quota_holds_under_concurrent_creates(db: Database,
                                                   groups: SecurityGroups) -> None:
    web = groups.create_group(ALICE, "web")
    used = sum(len(g.rules) for g in groups.list_groups(ALICE, "p1"))
    quota = RowQuota(db, security_group_rule=used + ROOM)
    outcomes = race(lambda i: groups.create_rule(ALICE, tcp(web.id, 1000 + i), quota))
    assert outcomes == {"made": ROOM, "OverQuota": ATTEMPTS - ROOM}
    assert sum(len(g.rules) for g in groups.list_groups(ALICE, "p1")) == used + ROOM
    # a new group's egress rules count too
    with pytest.raises(OverQuota):
        groups.create_group(ALICE, "db", quota=RowQuota(db, security_group_rule=used + ROOM))


# -- what the hosts enforce ------------------------------------------------------------------

def enforced(db: Database, groups: SecurityGroups, names: list[str]) -> set[SecurityRule]:
    with db.reading() as tx:
        rules, remotes = groups.enforced_rules(tx, "p1", names)
    assert set(remotes) == {r.remote_group for r in rules if r.remote_group}
    return set(rules)


def test_the_hosts_get_ipv4_rules_of_both_directions(db: Database,
                                                     groups: SecurityGroups) -> None:
    groups.list_groups(ALICE, "p1")
    assert enforced(db, groups, []) == {  # no group named: default
        SecurityRule("egress"),
        SecurityRule("ingress", remote_group="default"),
        SecurityRule("ingress", "icmp", remote_cidr="0.0.0.0/0"),
        SecurityRule("ingress", "tcp", 22, 22, remote_cidr=SSH_FROM)}
    web = groups.create_group(ALICE, "web")
    for rule in web.rules:
        groups.delete_rule(ALICE, rule.id)
    # no egress rule: the port sends nothing, as in Neutron
    assert enforced(db, groups, ["web"]) == {NOTHING_OUT}
    groups.create_rule(ALICE, tcp(web.id, 80, direction="egress"))
    groups.create_rule(ALICE, {"security_group_id": web.id, "direction": "ingress",
                               "protocol": "icmp", "port_range_min": 8})
    # IPv6 and protocols the host cannot match allow nothing yet
    for fields in ({"ethertype": "IPv6", "protocol": "tcp"}, {"protocol": "gre"},
                   {"ethertype": "IPv6", "direction": "egress", "protocol": "udp"}):
        groups.create_rule(ALICE, {"security_group_id": web.id, "direction": "ingress",
                                   **fields})
    assert enforced(db, groups, ["web"]) == {
        SecurityRule("egress", "tcp", 80, 80), SecurityRule("ingress", "icmp", 8)}
    both = enforced(db, groups, ["web", "default"])
    assert SecurityRule("egress") in both and NOTHING_OUT not in both


def test_a_new_projects_default_group_is_made_once_under_concurrent_reads(
        groups: SecurityGroups) -> None:
    outcomes = race(lambda i: groups.list_groups(ALICE, "p1"))
    assert outcomes == {"made": ATTEMPTS}
    (default,) = groups.list_groups(ALICE, "p1")
    assert len(default.rules) == 6
