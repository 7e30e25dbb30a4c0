"""A VM's access document through the cloud's path: the real MetadataServer (in a network
namespace made here), the agent's ConductorAccessSource, the bus, the conductor and
identity. Each VM gets its own project's members, keys, group and sudo rules, changes
arrive within the cache's lifetime, and another project's VM never sees them."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from labs.common.bus import BusTimeout, InProcessBus
from labs.compute.agent.access import ConductorAccessSource
from labs.compute.config import ComputeOptions
from labs.compute.rpcapi import ConductorAPI
from labs.identity import models
from labs.identity.assignments import Grant
from labs.identity.service import IdentityService
from labs.network.agent.metadata.access import AccessUnavailable
from labs.network.agent.metadata.server import MetadataServer, StaticMetadataSource
from labs.network.config import NetworkOptions
from labs.wiring.compute import conductor_on
from tests.accounts.keys_helpers import ed25519_public
from tests.conftest import Cloud
from tests.network.test_metadata_access_http import Namespace, need_root, record

P_VM, Q_VM = "10.77.0.21", "10.77.0.22"
TTL = 0.5


@dataclass
class Served:
    ns: Namespace
    port: int
    cloud: Cloud
    p: str
    q: str
    source: ConductorAccessSource
    control: InProcessBus

    def get(self, caller: str, path: str) -> tuple[int, str]:
        status, _, body = self.ns.get(caller, self.port, path)
        return status, body

    def doc(self, caller: str) -> dict[str, object]:
        status, body = self.get(caller, "/labs/v1/access.json")
        assert status == 200, body
        found: dict[str, object] = json.loads(body)
        return found

    def shells(self, caller: str) -> list[str]:
        accounts = self.doc(caller)["accounts"]
        assert isinstance(accounts, list)
        return [a["shell_name"] for a in accounts]


def grant(identity: IdentityService, actor_type: str, actor_id: str, project_id: str
          ) -> Grant:
    role = identity.assignments.list_roles("member")[0]
    made = Grant(role.id, actor_type, actor_id, models.TARGET_PROJECT, project_id)
    identity.assignments.create_grant(made)
    return made


@pytest.fixture
def served(cloud: Cloud) -> Iterator[Served]:
    need_root()
    p, q = cloud.project("proj-p"), cloud.project("proj-q")
    namespace = f"t{uuid.uuid4().hex[:10]}"
    control = InProcessBus(namespace, publisher_id="compute.control")
    conductor_on(control, cloud.identity.store.db, ComputeOptions(), NetworkOptions(),
                 cloud.identity)
    agent = InProcessBus(namespace, publisher_id="compute.agent")
    source = ConductorAccessSource(ConductorAPI(agent), ttl=TTL, timeout=1.0, stale_limit=2.0)
    instances = StaticMetadataSource([record(P_VM, p), record(Q_VM, q)])
    with control, agent, Namespace(P_VM, Q_VM) as ns, \
            MetadataServer(instances, access=source, timeout=2.0) as server:
        port = 18791
        server.add_network("net-access", ns.name, "10.77.0.1", port)
        yield Served(ns, port, cloud, p, q, source, control)


def test_members_keys_group_and_sudo_reach_the_projects_vm(served: Served) -> None:
    identity = served.cloud.identity
    key = ed25519_public()
    alice = served.cloud.user("alice", roles={"proj-p": "member"})
    bob = served.cloud.user("bob")
    with identity.store.write() as tx:
        identity.backend.add_ssh_key(tx, alice, key)
    doc = served.doc(P_VM)
    assert doc["project"] == {"id": served.p, "label": "proj-p", "group": {
        "name": "project-proj-p", "gid": identity.project_gid(served.p)}}
    assert served.shells(P_VM) == ["alice"]
    assert "%project-proj-p" in str(doc["sudoers"])
    assert served.get(P_VM, "/labs/v1/keys/alice") == (200, key + "\n")
    assert served.get(P_VM, "/labs/v1/keys/bob")[0] == 404

    # bob through a group; then his account disabled
    group = identity.users.create_group({"name": "ops"}, "default")
    identity.users.add_user_to_group(bob, group.id)
    grant(identity, models.ACTOR_GROUP, group.id, served.p)
    time.sleep(TTL)
    assert served.shells(P_VM) == ["alice", "bob"]
    identity.users.update_user(bob, {"enabled": False})
    time.sleep(TTL)
    assert served.shells(P_VM) == ["alice"]
    # alice's key removed: no key served
    with identity.store.write() as tx:
        identity.backend.remove_ssh_key(tx, alice, key)
    time.sleep(TTL)
    assert served.get(P_VM, "/labs/v1/keys/alice") == (200, "")


def test_another_projects_vm_never_gets_the_document(served: Served) -> None:
    identity = served.cloud.identity
    alice = served.cloud.user("alice", roles={"proj-p": "member"})
    with identity.store.write() as tx:
        identity.backend.add_ssh_key(tx, alice, ed25519_public())
    assert served.shells(P_VM) == ["alice"]
    doc = served.doc(Q_VM)
    assert doc["project"]["id"] == served.q and doc["accounts"] == []  # type: ignore[index]
    assert served.get(Q_VM, "/labs/v1/keys/alice")[0] == 404
    assert "alice" not in served.get(Q_VM, "/labs/v1/access.json")[1]
    # a deleted project: 404, not an empty document
    identity.resources.delete_project(served.q)
    time.sleep(TTL)
    assert served.get(Q_VM, "/labs/v1/access.json")[0] == 404


def test_without_the_conductor_a_document_is_served_only_briefly(served: Served) -> None:
    """The conductor gone: the last document for `stale_limit` (2 s here), then 503."""
    served.cloud.user("alice", roles={"proj-p": "member"})
    assert served.shells(P_VM) == ["alice"]
    served.control.stop()
    time.sleep(TTL)
    assert served.shells(P_VM) == ["alice"]  # under 2 s old
    time.sleep(2.0)
    assert served.get(P_VM, "/labs/v1/access.json")[0] == 503


class SilentConductor(ConductorAPI):
    """A conductor that answers once, then never."""

    def __init__(self, answer: dict[str, object]) -> None:
        self.answer: dict[str, object] | None = answer

    def project_access(self, project_id: str, timeout: float = 2.0
                       ) -> dict[str, object] | None:
        if self.answer is None:
            raise BusTimeout("no answer")
        answer, self.answer = self.answer, None
        return answer


def test_a_stale_document_is_served_only_briefly() -> None:
    now = [100.0]
    conductor = SilentConductor({"project_id": "p1", "label": "p", "gid": 50000,
                                 "accounts": [], "sudoers": ""})
    source = ConductorAccessSource(conductor, ttl=1.0, stale_limit=5.0,
                                   clock=lambda: now[0])
    vm = record(P_VM, "p1")
    assert source.access_for(vm) is not None  # fetched
    now[0] += 3.0
    assert source.access_for(vm) is not None  # the conductor is silent: 3 s old is fine
    now[0] += 3.0
    with pytest.raises(AccessUnavailable):
        source.access_for(vm)  # 6 s old: refused (503)
