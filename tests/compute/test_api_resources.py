"""Flavors, key pairs, server groups, limits and quotas, services, hypervisors and
zones through the bare compute API (no agents running: service rows come from the
conductor's own calls, servers are rows put in the database)."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.testclient import TestClient

from labs.common.bus import InProcessBus
from labs.common.context import RequestContext
from labs.common.errors import BadRequest
from labs.common.runner import compose
from labs.compute import models
from labs.compute.api.images import ImageInfo, ImageLookup
from labs.compute.api.routes import build_api as compute_api
from labs.compute.api.service import ComputeService
from labs.compute.conductor.manager import Conductor
from labs.compute.config import ComputeOptions
from labs.compute.payloads import utcnow
from labs.identity.api import build_api as identity_api
from labs.identity.resources import ProjectFilter
from labs.network.config import NetworkOptions
from labs.wiring.compute import new_compute, new_conductor
from tests.conftest import Cloud
from tests.fuzzing import check_document

#: user -> (password, project, role); "admin" is the cloud admin.
PEOPLE = {"alice": ("pw", "a", "member"), "ann": ("pw", "a", "reader"),
          "bob": ("pw", "b", "member")}
LATEST = "2.100"
RESOURCES = {"hypervisor_type": "QEMU", "hypervisor_version": 8002000, "host_ip": "10.0.0.1",
             "vcpus": 8, "memory_mb": 16384, "disk_gb": 200}


class NoImages(ImageLookup):
    def find(self, ctx: RequestContext, image_id: str) -> ImageInfo | None:
        return None


@dataclass
class Compute:
    cloud: Cloud
    client: TestClient
    service: ComputeService
    conductor: Conductor
    projects: dict[str, str]
    users: dict[str, str]

    def token(self, who: str) -> str:
        if who == "admin":
            return self.cloud.admin_token()
        password, project, _ = PEOPLE[who]
        return self.cloud.token(who, password, project)

    def call(self, method: str, path: str, who: str = "alice", *, version: str | None = LATEST,
             json: Any = None, params: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"X-Auth-Token": self.token(who)}
        if version:
            headers["OpenStack-API-Version"] = f"compute {version}"
        return self.client.request(method, "/compute/v2.1" + path, json=json, params=params,
                                   headers=headers)

    def ok(self, method: str, path: str, who: str = "alice", **kw: Any) -> Any:
        resp = self.call(method, path, who, **kw)
        assert resp.status_code < 300, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content else None

    def agent(self, host: str, zone: str = "") -> None:
        self.conductor.register_agent(host, zone, {**RESOURCES, "hypervisor_hostname":
                                                   f"{host}.example.org"})

    def server(self, project: str, *, host: str | None = None, group: str | None = None,
               deleted: bool = False, vcpus: int = 1, ram: int = 512) -> str:
        """A server row as the servers code leaves it (with a claim if on a host)."""
        now, server_id = utcnow(), str(uuid.uuid4())
        with self.service.db.transaction() as tx:
            tx.add(models.Instance(
                id=server_id, project_id=self.projects[project], user_id="u", name="vm",
                hostname="vm", vm_state="deleted" if deleted else "active", vcpus=vcpus,
                memory_mb=ram, disk_gb=1, flavor={}, image_ref="i", reservation_id="r-1",
                host=host, server_group_id=group, deleted=deleted, created_at=now,
                updated_at=now))
            if host and not deleted:
                node = tx.scalars(sa.select(models.ComputeNode)
                                  .where(models.ComputeNode.host == host)).one()
                tx.add(models.Allocation(instance_id=server_id, node_id=node.id, vcpus=vcpus,
                                         memory_mb=ram, disk_gb=1, created_at=now))
        return server_id


def fault(resp: httpx.Response, code: int) -> str:
    """Nova's error body: ``{"<name>": {"code", "message"}}``; returns the message."""
    names = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
             409: "conflictingRequest"}
    assert resp.status_code == code, f"{resp.status_code} != {code}: {resp.text}"
    body = resp.json()
    assert list(body) == [names[code]], body
    assert body[names[code]]["code"] == code
    return str(body[names[code]]["message"])


@pytest.fixture
def compute(cloud: Cloud) -> Iterator[Compute]:
    db = cloud.identity.store.db
    options = ComputeOptions(service_down_seconds=30.0)
    bus = InProcessBus(namespace=f"t{uuid.uuid4().hex[:10]}")  # never started: no servers
    service = new_compute(db, bus, NoImages(), options, NetworkOptions())
    service.prepare()
    admin = cloud.identity.resources.list_projects(ProjectFilter(name="admin"))[0]
    projects = {"admin": admin.id}
    for name in {p for _, p, _ in PEOPLE.values()}:
        projects[name] = cloud.project(name)
    users = {user: cloud.user(user, password, {project: role})
             for user, (password, project, role) in PEOPLE.items()}
    app = compose({"/identity": identity_api(cloud.identity).app(),
                   "/compute": compute_api(service, cloud.identity.tokens).app()})
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=False) as client:
        yield Compute(Cloud(cloud.identity, client), client, service,
                      new_conductor(db, bus, options, NetworkOptions()), projects,
                      users)


def ssh_key() -> tuple[str, str]:
    """(public key line, Nova's fingerprint of it)."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH).decode()
    digest = hashlib.md5(base64.b64decode(line.split()[1]), usedforsecurity=False).hexdigest()
    return line + " me@laptop\n", ":".join(digest[i:i + 2] for i in range(0, 32, 2))


# -- flavors -----------------------------------------------------------------------------

def test_flavor_bodies_follow_the_microversion(compute: Compute) -> None:
    brief = compute.ok("GET", "/flavors", version=None)["flavors"]
    assert [f["id"] for f in brief] == ["1", "2", "3", "4", "5", "6"]
    assert set(brief[0]) == {"id", "name", "links"}
    assert brief[0]["links"] == [
        {"rel": "self", "href": "http://testserver/compute/v2.1/flavors/1"},
        {"rel": "bookmark", "href": "http://testserver/compute/flavors/1"}]
    old = compute.ok("GET", "/flavors/2", version="2.1")["flavor"]
    assert old["swap"] == "" and "description" not in old and "extra_specs" not in old
    assert old["OS-FLV-EXT-DATA:ephemeral"] == 0 and old["os-flavor-access:is_public"]
    at_61 = compute.ok("GET", "/flavors/detail", version="2.61")["flavors"][1]
    assert at_61["name"] == "m1.small" and at_61["ram"] == 2048 and at_61["vcpus"] == 1
    assert at_61["swap"] == "" and at_61["description"] is None and at_61["extra_specs"] == {}
    assert compute.ok("GET", "/flavors/2")["flavor"]["swap"] == 0
    assert "description" in compute.ok("GET", "/flavors", version="2.55")["flavors"][0]
    assert fault(compute.call("GET", "/flavors/nope"), 404) == "Flavor nope could not be found."


def test_flavor_create_update_delete(compute: Compute) -> None:
    body = {"flavor": {"name": "big", "id": "big-1", "ram": "4096", "vcpus": 4, "disk": 40,
                       "swap": 512, "os-flavor-access:is_public": "false",
                       "description": "for builds"}}
    fault(compute.call("POST", "/flavors", json=body), 403)
    made = compute.ok("POST", "/flavors", "admin", json=body)["flavor"]
    assert made["ram"] == 4096 and made["swap"] == 512 and made["description"] == "for builds"
    assert made["os-flavor-access:is_public"] is False
    assert "Flavor with ID big-1 already exists" in fault(
        compute.call("POST", "/flavors", "admin", json=body), 409)
    assert "description" in fault(compute.call("POST", "/flavors", "admin", version="2.54",
                                               json=body), 400)
    zero = {"flavor": {"name": "zero", "ram": "0", "vcpus": 1, "disk": 0}}
    assert "ram" in fault(compute.call("POST", "/flavors", "admin", json=zero), 400)
    auto = compute.ok("POST", "/flavors", "admin",
                      json={"flavor": {"name": "auto", "ram": 64, "vcpus": 1, "disk": 0}})
    assert uuid.UUID(auto["flavor"]["id"])
    update = {"flavor": {"description": "changed"}}
    assert compute.ok("PUT", "/flavors/big-1", "admin", json=update)["flavor"][
        "description"] == "changed"
    fault(compute.call("PUT", "/flavors/big-1", "admin", version="2.54", json=update), 404)
    resp = compute.call("DELETE", "/flavors/big-1", "admin")
    assert resp.status_code == 202
    fault(compute.call("GET", "/flavors/big-1", "admin"), 404)
    fault(compute.call("DELETE", "/flavors/big-1", "admin"), 404)


def test_flavor_filters_sorting_and_paging(compute: Compute) -> None:
    ids = [f["id"] for f in compute.ok("GET", "/flavors", params={"minRam": 4096})["flavors"]]
    assert ids == ["3", "4", "5"]
    assert [f["id"] for f in compute.ok("GET", "/flavors", params={"minDisk": 80})[
        "flavors"]] == ["4", "5"]
    assert fault(compute.call("GET", "/flavors", params={"minRam": "x"}), 400) == (
        "Invalid minRam filter [x]")
    assert fault(compute.call("GET", "/flavors", "admin", params={"is_public": "maybe"}),
                 400) == "Invalid is_public filter [maybe]"
    ordered = compute.ok("GET", "/flavors/detail",
                         params={"sort_key": "memory_mb", "sort_dir": "desc"})["flavors"]
    assert [f["ram"] for f in ordered] == sorted((f["ram"] for f in ordered), reverse=True)
    page = compute.ok("GET", "/flavors/detail", params={"limit": 2, "is_public": "True"})
    assert [f["id"] for f in page["flavors"]] == ["1", "2"]
    (link,) = page["flavors_links"]
    assert link["rel"] == "next"
    assert link["href"] == ("http://testserver/compute/v2.1/flavors/detail?is_public=True"
                            "&limit=2&marker=2")
    rest = compute.ok("GET", "/flavors", params={"limit": 10, "marker": "2"})
    assert [f["id"] for f in rest["flavors"]] == ["3", "4", "5", "6"]
    assert "flavors_links" not in rest
    assert fault(compute.call("GET", "/flavors", params={"marker": "zz"}), 400) == (
        "marker [zz] not found")
    private = {"flavor": {"name": "hidden", "id": "p1", "ram": 64, "vcpus": 1, "disk": 0,
                          "os-flavor-access:is_public": False}}
    compute.ok("POST", "/flavors", "admin", json=private)
    assert [f["id"] for f in compute.ok("GET", "/flavors", "admin",
                                        params={"is_public": "false"})["flavors"]] == ["p1"]
    assert "p1" in [f["id"] for f in compute.ok("GET", "/flavors", "admin",
                                                params={"is_public": "None"})["flavors"]]
    assert "p1" not in [f["id"] for f in compute.ok("GET", "/flavors",
                                                    params={"is_public": "None"})["flavors"]]


def test_flavor_extra_specs(compute: Compute) -> None:
    specs = {"extra_specs": {"hw:cpu_policy": "dedicated", "quota:disk_read": 100}}
    fault(compute.call("POST", "/flavors/1/os-extra_specs", json=specs), 403)
    assert compute.ok("POST", "/flavors/1/os-extra_specs", "admin", json=specs) == specs
    assert compute.ok("GET", "/flavors/1/os-extra_specs")["extra_specs"] == {
        "hw:cpu_policy": "dedicated", "quota:disk_read": "100"}
    assert compute.ok("GET", "/flavors/1")["flavor"]["extra_specs"]["hw:cpu_policy"] == (
        "dedicated")
    assert compute.ok("GET", "/flavors/1/os-extra_specs/hw:cpu_policy") == {
        "hw:cpu_policy": "dedicated"}
    assert compute.ok("PUT", "/flavors/1/os-extra_specs/hw:cpu_policy", "admin",
                      json={"hw:cpu_policy": "shared"}) == {"hw:cpu_policy": "shared"}
    assert fault(compute.call("PUT", "/flavors/1/os-extra_specs/hw:cpu_policy", "admin",
                              json={"other": "x"}), 400) == "Request body and URI mismatch"
    gone = compute.call("DELETE", "/flavors/1/os-extra_specs/hw:cpu_policy", "admin")
    assert gone.status_code == 200 and not gone.content
    assert fault(compute.call("GET", "/flavors/1/os-extra_specs/hw:cpu_policy"), 404) == (
        "Flavor 1 has no extra specs with key hw:cpu_policy.")
    fault(compute.call("DELETE", "/flavors/1/os-extra_specs/hw:cpu_policy", "admin"), 404)
    fault(compute.call("POST", "/flavors/1/os-extra_specs", "admin",
                       json={"extra_specs": {"bad/key": "x"}}), 400)


def test_flavor_access(compute: Compute) -> None:
    compute.ok("POST", "/flavors", "admin", json={"flavor": {
        "name": "team", "id": "t1", "ram": 64, "vcpus": 1, "disk": 0,
        "os-flavor-access:is_public": False}})
    fault(compute.call("GET", "/flavors/t1"), 404)  # project a has no access yet
    add = {"addTenantAccess": {"tenant": compute.projects["a"]}}
    fault(compute.call("POST", "/flavors/t1/action", json=add), 403)
    assert compute.ok("POST", "/flavors/t1/action", "admin", json=add) == {
        "flavor_access": [{"flavor_id": "t1", "tenant_id": compute.projects["a"]}]}
    assert compute.ok("GET", "/flavors/t1")["flavor"]["name"] == "team"
    assert "t1" in [f["id"] for f in compute.ok("GET", "/flavors")["flavors"]]
    fault(compute.call("GET", "/flavors/t1", "bob"), 404)
    assert "already exists" in fault(compute.call("POST", "/flavors/t1/action", "admin",
                                                  json=add), 409)
    assert len(compute.ok("GET", "/flavors/t1/os-flavor-access", "admin")[
        "flavor_access"]) == 1
    remove = {"removeTenantAccess": {"tenant": compute.projects["a"]}}
    assert compute.ok("POST", "/flavors/t1/action", "admin", json=remove) == {
        "flavor_access": []}
    fault(compute.call("POST", "/flavors/t1/action", "admin", json=remove), 404)
    assert fault(compute.call("GET", "/flavors/1/os-flavor-access", "admin"), 404) == (
        "Access list not available for public flavors.")
    assert fault(compute.call("POST", "/flavors/1/action", "admin", json=add), 409) == (
        "Can not add access to a public flavor.")
    fault(compute.call("POST", "/flavors/t1/action", "admin", json={"bogus": {}}), 400)


# -- key pairs ---------------------------------------------------------------------------

def test_keypair_import_show_list_delete(compute: Compute) -> None:
    public, fingerprint = ssh_key()
    resp = compute.call("POST", "/os-keypairs", version="2.10",
                        json={"keypair": {"name": "k1", "public_key": public}})
    assert resp.status_code == 201, resp.text
    assert resp.json() == {"keypair": {"name": "k1", "public_key": public, "type": "ssh",
                                       "fingerprint": fingerprint,
                                       "user_id": compute.users["alice"]}}
    shown = compute.ok("GET", "/os-keypairs/k1", version="2.10")["keypair"]
    assert shown["user_id"] == compute.users["alice"] and isinstance(shown["id"], int)
    assert shown["deleted"] is False and shown["deleted_at"] is None
    assert shown["updated_at"] is None and shown["created_at"]
    assert compute.ok("GET", "/os-keypairs", version="2.10") == {"keypairs": [{"keypair": {
        "name": "k1", "public_key": public, "fingerprint": fingerprint, "type": "ssh"}}]}
    assert "type" not in compute.ok("GET", "/os-keypairs", version="2.1")["keypairs"][0][
        "keypair"]
    assert compute.ok("GET", "/os-keypairs", "bob") == {"keypairs": []}
    fault(compute.call("GET", "/os-keypairs/k1", "bob"), 404)
    assert compute.call("DELETE", "/os-keypairs/k1", version="2.10").status_code == 204
    assert fault(compute.call("DELETE", "/os-keypairs/k1"), 404) == (
        f"Keypair k1 not found for user {compute.users['alice']}")
    old = compute.call("POST", "/os-keypairs", version="2.1",
                       json={"keypair": {"name": "k2", "public_key": public}})
    assert old.status_code == 200 and "type" not in old.json()["keypair"]
    assert compute.call("DELETE", "/os-keypairs/k2", version="2.1").status_code == 202


def test_keypair_generation_only_before_2_92(compute: Compute) -> None:
    made = compute.ok("POST", "/os-keypairs", version="2.91",
                      json={"keypair": {"name": "gen"}})["keypair"]
    key = serialization.load_ssh_private_key(made["private_key"].encode(), None)
    assert key.public_key().public_bytes(
        serialization.Encoding.OpenSSH,
        serialization.PublicFormat.OpenSSH).decode() == made["public_key"]
    assert "private_key" not in compute.ok("GET", "/os-keypairs/gen")["keypair"]
    assert "public_key" in fault(compute.call("POST", "/os-keypairs", version="2.92",
                                              json={"keypair": {"name": "gen2"}}), 400)


def test_keypair_errors(compute: Compute) -> None:
    public, _ = ssh_key()
    assert fault(compute.call("POST", "/os-keypairs", json={"keypair": {
        "name": "bad", "public_key": "ssh-rsa not-a-key"}}), 400) == (
        "Keypair data is invalid: failed to generate fingerprint")
    compute.ok("POST", "/os-keypairs", json={"keypair": {"name": "k", "public_key": public}})
    assert fault(compute.call("POST", "/os-keypairs", json={"keypair": {
        "name": "k", "public_key": public}}), 409) == "Key pair 'k' already exists."
    compute.ok("POST", "/os-keypairs", "bob", json={"keypair": {"name": "k",
                                                                "public_key": public}})
    dotted = {"keypair": {"name": "me@laptop.key", "public_key": public}}
    fault(compute.call("POST", "/os-keypairs", version="2.10", json=dotted), 400)
    assert compute.call("POST", "/os-keypairs", json=dotted).status_code == 201
    for name in (" lead", "trail ", "", "x" * 256, "tab\there"):
        fault(compute.call("POST", "/os-keypairs", json={"keypair": {
            "name": name, "public_key": public}}), 400)
    fault(compute.call("POST", "/os-keypairs", "ann", json={"keypair": {
        "name": "r", "public_key": public}}), 403)
    assert fault(compute.call("POST", "/os-keypairs", version="2.10", json={"keypair": {
        "name": "x", "public_key": public, "type": "x509"}}), 400).startswith(
        "Keypair data is invalid: failed to generate X509 fingerprint")


def test_keypair_x509_import(compute: Compute) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice")])
    now = utcnow()
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    made = compute.ok("POST", "/os-keypairs", json={"keypair": {
        "name": "cert", "type": "x509", "public_key": pem}})["keypair"]
    assert made["type"] == "x509"
    assert made["fingerprint"] == ":".join(
        f"{b:02x}" for b in cert.fingerprint(hashes.SHA1()))


def test_keypair_quota_paging_and_other_users(compute: Compute) -> None:
    public, _ = ssh_key()
    for name in ("c", "a", "b"):
        compute.ok("POST", "/os-keypairs", json={"keypair": {"name": name,
                                                              "public_key": public}})
    page = compute.ok("GET", "/os-keypairs", version="2.35", params={"limit": 2})
    assert [k["keypair"]["name"] for k in page["keypairs"]] == ["a", "b"]
    assert page["keypairs_links"][0]["href"].endswith("/v2.1/os-keypairs?limit=2&marker=b")
    rest = compute.ok("GET", "/os-keypairs", version="2.35", params={"marker": "b"})
    assert [k["keypair"]["name"] for k in rest["keypairs"]] == ["c"]
    assert fault(compute.call("GET", "/os-keypairs", version="2.35",
                              params={"marker": "zz"}), 400) == "Marker zz could not be found."
    assert len(compute.ok("GET", "/os-keypairs", version="2.34",
                          params={"limit": 1})["keypairs"]) == 3  # no paging before 2.35
    alice = compute.users["alice"]
    assert len(compute.ok("GET", "/os-keypairs", "admin", version="2.10",
                          params={"user_id": alice})["keypairs"]) == 3
    fault(compute.call("GET", "/os-keypairs", "bob", version="2.10",
                       params={"user_id": alice}), 403)
    fault(compute.call("POST", "/os-keypairs", "bob", version="2.10", json={"keypair": {
        "name": "x", "public_key": public, "user_id": alice}}), 403)
    given = compute.ok("POST", "/os-keypairs", "admin", version="2.10", json={"keypair": {
        "name": "from-admin", "public_key": public, "user_id": alice}})["keypair"]
    assert given["user_id"] == alice
    assert compute.call("DELETE", "/os-keypairs/from-admin", "admin", version="2.10",
                        params={"user_id": alice}).status_code == 204
    compute.ok("PUT", f"/os-quota-sets/{compute.projects['a']}", "admin",
               json={"quota_set": {"key_pairs": 3}})
    assert fault(compute.call("POST", "/os-keypairs", json={"keypair": {
        "name": "d", "public_key": public}}), 403) == "Quota exceeded, too many key pairs."
    compute.ok("POST", "/os-keypairs", "bob", json={"keypair": {"name": "d",
                                                                "public_key": public}})


# -- server groups -----------------------------------------------------------------------

def test_server_group_bodies_per_microversion(compute: Compute) -> None:
    new = compute.ok("POST", "/os-server-groups", json={"server_group": {
        "name": "g1", "policy": "anti-affinity", "rules": {"max_server_per_host": "2"}}})
    group = new["server_group"]
    assert group == {"id": group["id"], "name": "g1", "policy": "anti-affinity",
                     "rules": {"max_server_per_host": 2}, "members": [],
                     "project_id": compute.projects["a"], "user_id": compute.users["alice"]}
    old = compute.ok("GET", f"/os-server-groups/{group['id']}", version="2.1")["server_group"]
    assert old == {"id": group["id"], "name": "g1", "policies": ["anti-affinity"],
                   "members": [], "metadata": {}}
    assert "project_id" in compute.ok("GET", f"/os-server-groups/{group['id']}",
                                      version="2.13")["server_group"]
    made = compute.ok("POST", "/os-server-groups", version="2.15", json={"server_group": {
        "name": "g2", "policies": ["soft-affinity"]}})["server_group"]
    assert made["policies"] == ["soft-affinity"] and "policy" not in made
    fault(compute.call("POST", "/os-server-groups", version="2.14", json={"server_group": {
        "name": "g3", "policies": ["soft-affinity"]}}), 400)
    fault(compute.call("POST", "/os-server-groups", version="2.63", json={"server_group": {
        "name": "g3", "policy": "affinity"}}), 400)


def test_server_group_errors_and_quota(compute: Compute) -> None:
    assert fault(compute.call("POST", "/os-server-groups", json={"server_group": {
        "name": "g", "policy": "affinity", "rules": {"max_server_per_host": 2}}}), 400) == (
        "Only anti-affinity policy supports rules.")
    for value in ("0", 0, "two", -1):
        fault(compute.call("POST", "/os-server-groups", json={"server_group": {
            "name": "g", "policy": "anti-affinity", "rules": {"max_server_per_host": value}}}),
            400)
    fault(compute.call("POST", "/os-server-groups", "ann", json={"server_group": {
        "name": "g", "policy": "affinity"}}), 403)
    group_id = compute.ok("POST", "/os-server-groups", json={"server_group": {
        "name": "g", "policy": "affinity"}})["server_group"]["id"]
    assert fault(compute.call("GET", f"/os-server-groups/{group_id}", "bob"), 404) == (
        f"Instance group {group_id} could not be found.")
    fault(compute.call("DELETE", f"/os-server-groups/{group_id}", "bob"), 404)
    assert compute.ok("GET", f"/os-server-groups/{group_id}", "ann")["server_group"]["id"] == (
        group_id)
    compute.ok("PUT", f"/os-quota-sets/{compute.projects['a']}", "admin",
               json={"quota_set": {"server_groups": 1}})
    assert fault(compute.call("POST", "/os-server-groups", json={"server_group": {
        "name": "g2", "policy": "affinity"}}), 403) == "Quota exceeded, too many server groups."
    assert compute.call("DELETE", f"/os-server-groups/{group_id}").status_code == 204
    fault(compute.call("GET", f"/os-server-groups/{group_id}"), 404)
    compute.ok("POST", "/os-server-groups", json={"server_group": {"name": "g2",
                                                                   "policy": "affinity"}})


def test_server_group_members_and_listing(compute: Compute) -> None:
    ids = [compute.ok("POST", "/os-server-groups", json={"server_group": {
        "name": f"g{i}", "policy": "anti-affinity"}})["server_group"]["id"] for i in range(3)]
    bobs = compute.ok("POST", "/os-server-groups", "bob", json={"server_group": {
        "name": "b", "policy": "affinity"}})["server_group"]["id"]
    live = compute.server("a", group=ids[0])
    compute.server("a", group=ids[0], deleted=True)
    assert compute.ok("GET", f"/os-server-groups/{ids[0]}")["server_group"]["members"] == [live]
    listed = compute.ok("GET", "/os-server-groups")["server_groups"]
    assert [g["id"] for g in listed] == ids
    assert listed[0]["members"] == [live] and listed[1]["members"] == []
    assert [g["id"] for g in compute.ok("GET", "/os-server-groups",
                                        params={"limit": 1, "offset": 1})[
        "server_groups"]] == [ids[1]]
    mine = compute.ok("GET", "/os-server-groups", params={"all_projects": "True"})
    assert bobs not in [g["id"] for g in mine["server_groups"]]
    every = compute.ok("GET", "/os-server-groups", "admin", params={"all_projects": "True"})
    assert {*ids, bobs} <= {g["id"] for g in every["server_groups"]}
    assert compute.ok("GET", "/os-server-groups", "admin")["server_groups"] == []
    fault(compute.call("GET", "/os-server-groups", params={"offset": "-1"}), 400)


# -- limits and quota sets ---------------------------------------------------------------

def test_limits_per_microversion(compute: Compute) -> None:
    compute.server("a", vcpus=2, ram=1024)
    compute.ok("POST", "/os-server-groups", json={"server_group": {"name": "g",
                                                                   "policy": "affinity"}})
    limits = compute.ok("GET", "/limits", version=None)["limits"]
    assert limits["rate"] == []
    absolute = limits["absolute"]
    assert absolute == {
        "maxImageMeta": 128, "maxPersonality": 5, "maxPersonalitySize": 10240,
        "maxSecurityGroupRules": 100, "maxSecurityGroups": 10, "maxServerMeta": 128,
        "maxTotalCores": 20, "maxTotalFloatingIps": 10, "maxTotalInstances": 10,
        "maxTotalKeypairs": 100, "maxTotalRAMSize": 51200, "maxServerGroups": 10,
        "maxServerGroupMembers": 10, "totalCoresUsed": 2, "totalInstancesUsed": 1,
        "totalRAMUsed": 1024, "totalSecurityGroupsUsed": 0, "totalFloatingIpsUsed": 0,
        "totalServerGroupsUsed": 1}
    at_36 = compute.ok("GET", "/limits", version="2.36")["limits"]["absolute"]
    assert "maxSecurityGroups" not in at_36 and "maxImageMeta" in at_36
    assert "maxImageMeta" not in compute.ok("GET", "/limits", version="2.39")["limits"][
        "absolute"]
    at_57 = compute.ok("GET", "/limits", version="2.57")["limits"]["absolute"]
    assert "maxPersonality" not in at_57 and at_57["maxTotalInstances"] == 10
    other = {"tenant_id": compute.projects["b"]}
    fault(compute.call("GET", "/limits", params=other), 403)
    assert compute.ok("GET", "/limits", "admin", params=other)["limits"]["absolute"][
        "totalInstancesUsed"] == 0


def test_quota_sets(compute: Compute) -> None:
    a, b = compute.projects["a"], compute.projects["b"]
    compute.server("a", vcpus=2)
    shown = compute.ok("GET", f"/os-quota-sets/{a}", version="2.56")["quota_set"]
    assert shown == {"id": a, "cores": 20, "instances": 10, "ram": 51200, "key_pairs": 100,
                     "metadata_items": 128, "server_groups": 10, "server_group_members": 10,
                     "injected_files": 5, "injected_file_content_bytes": 10240,
                     "injected_file_path_bytes": 255}
    old = compute.ok("GET", f"/os-quota-sets/{a}", version="2.1")["quota_set"]
    assert old["floating_ips"] == 10 and old["security_group_rules"] == 100
    assert old["security_groups"] == 10 and old["fixed_ips"] == -1
    assert "injected_files" not in compute.ok("GET", f"/os-quota-sets/{a}")["quota_set"]
    detail = compute.ok("GET", f"/os-quota-sets/{a}/detail", version="2.56")["quota_set"]
    assert detail["cores"] == {"in_use": 2, "limit": 20, "reserved": 0}
    assert detail["instances"] == {"in_use": 1, "limit": 10, "reserved": 0}
    fault(compute.call("GET", f"/os-quota-sets/{b}"), 403)
    fault(compute.call("GET", f"/os-quota-sets/{b}/detail"), 403)
    assert compute.ok("GET", f"/os-quota-sets/{b}", "admin")["quota_set"]["id"] == b
    fault(compute.call("PUT", f"/os-quota-sets/{a}", json={"quota_set": {"cores": 5}}), 403)
    updated = compute.ok("PUT", f"/os-quota-sets/{a}", "admin", version="2.56",
                         json={"quota_set": {"cores": "5", "instances": -1}})["quota_set"]
    assert "id" not in updated and updated["cores"] == 5 and updated["instances"] == -1
    assert fault(compute.call("PUT", f"/os-quota-sets/{a}", "admin",
                              json={"quota_set": {"cores": 1}}), 400) == (
        "Quota limit 1 for cores must be greater than or equal to already used and "
        "reserved 2.")
    assert compute.ok("PUT", f"/os-quota-sets/{a}", "admin", json={"quota_set": {
        "cores": 1, "force": True}})["quota_set"]["cores"] == 1
    fault(compute.call("PUT", f"/os-quota-sets/{a}", "admin",
                       json={"quota_set": {"cores": -2}}), 400)
    fault(compute.call("PUT", f"/os-quota-sets/{a}", "admin",
                       json={"quota_set": {"floating_ips": 1}}), 400)  # gone at 2.36
    compute.ok("PUT", f"/os-quota-sets/{a}", "admin", version="2.1",
               json={"quota_set": {"floating_ips": 1}})
    defaults = compute.ok("GET", f"/os-quota-sets/{a}/defaults")["quota_set"]
    assert defaults["cores"] == 20 and defaults["id"] == a
    fault(compute.call("DELETE", f"/os-quota-sets/{a}"), 403)
    assert compute.call("DELETE", f"/os-quota-sets/{a}", "admin").status_code == 202
    assert compute.ok("GET", f"/os-quota-sets/{a}")["quota_set"]["cores"] == 20


# -- services, hypervisors, zones --------------------------------------------------------

def test_services_list_and_update(compute: Compute) -> None:
    compute.agent("h1")
    compute.agent("h2", "az2")
    fault(compute.call("GET", "/os-services"), 403)
    services = compute.ok("GET", "/os-services", "admin")["services"]
    assert [(s["host"], s["binary"], s["zone"], s["status"], s["state"])
            for s in services] == [("h1", "nova-compute", "nova", "enabled", "up"),
                                   ("h2", "nova-compute", "az2", "enabled", "up")]
    h1 = services[0]
    assert uuid.UUID(h1["id"]) and h1["forced_down"] is False
    assert h1["disabled_reason"] is None and h1["updated_at"]
    assert compute.ok("GET", "/os-services", "admin", params={"host": "h2"})["services"][0][
        "host"] == "h2"
    assert compute.ok("GET", "/os-services", "admin",
                      params={"binary": "nova-conductor"})["services"] == []
    put = compute.ok("PUT", f"/os-services/{h1['id']}", "admin",
                     json={"status": "disabled", "disabled_reason": "maintenance"})["service"]
    assert put["status"] == "disabled" and put["disabled_reason"] == "maintenance"
    assert put["id"] == h1["id"]
    down = compute.ok("PUT", f"/os-services/{h1['id']}", "admin",
                      json={"forced_down": True})["service"]
    assert down["forced_down"] is True and down["state"] == "down"
    assert fault(compute.call("PUT", f"/os-services/{h1['id']}", "admin", json={
        "status": "enabled", "disabled_reason": "x"}), 400) == (
        "Specifying 'disabled_reason' with status 'enabled' is invalid.")
    assert "No updates were requested" in fault(
        compute.call("PUT", f"/os-services/{h1['id']}", "admin", json={}), 400)
    assert fault(compute.call("PUT", "/os-services/h1", "admin",
                              json={"status": "enabled"}), 400) == "Invalid uuid h1"
    missing = str(uuid.uuid4())
    assert fault(compute.call("PUT", f"/os-services/{missing}", "admin",
                              json={"status": "enabled"}), 404) == (
        f"Service {missing} could not be found.")
    fault(compute.call("PUT", f"/os-services/{h1['id']}", json={"status": "enabled"}), 403)
    assert compute.ok("PUT", f"/os-services/{h1['id']}", "admin", json={
        "status": "enabled", "forced_down": False})["service"]["state"] == "up"


def test_services_before_2_53(compute: Compute) -> None:
    compute.agent("h1")
    listed = compute.ok("GET", "/os-services", "admin", version="2.11")["services"][0]
    assert isinstance(listed["id"], int)
    assert "forced_down" not in compute.ok("GET", "/os-services", "admin",
                                           version="2.10")["services"][0]
    body = {"host": "h1", "binary": "nova-compute", "disabled_reason": "disk"}
    assert compute.ok("PUT", "/os-services/disable-log-reason", "admin", version="2.11",
                      json=body) == {"service": {"host": "h1", "binary": "nova-compute",
                                                 "status": "disabled",
                                                 "disabled_reason": "disk"}}
    assert compute.ok("PUT", "/os-services/enable", "admin", version="2.11", json={
        "host": "h1", "binary": "nova-compute"})["service"]["status"] == "enabled"
    forced = {"host": "h1", "binary": "nova-compute", "forced_down": "true"}
    assert compute.ok("PUT", "/os-services/force-down", "admin", version="2.11",
                      json=forced) == {"service": {"host": "h1", "binary": "nova-compute",
                                                   "forced_down": True}}
    assert compute.ok("GET", "/os-services", "admin", version="2.11")["services"][0][
        "state"] == "down"
    fault(compute.call("PUT", "/os-services/force-down", "admin", version="2.10",
                       json={"host": "h1", "binary": "nova-compute"}), 404)
    assert fault(compute.call("PUT", "/os-services/disable-log-reason", "admin",
                              version="2.11", json={"host": "h1", "binary": "nova-compute"}),
                 400) == "Missing disabled reason field"
    fault(compute.call("PUT", "/os-services/reboot", "admin", version="2.11",
                       json={"host": "h1", "binary": "nova-compute"}), 404)
    fault(compute.call("PUT", "/os-services/disable", "admin", version="2.11",
                       json={"host": "h9", "binary": "nova-compute"}), 404)
    assert "Only nova-compute" in fault(compute.call(
        "PUT", "/os-services/disable", "admin", version="2.11",
        json={"host": "h1", "binary": "nova-scheduler"}), 400)


def test_service_state_and_delete(compute: Compute) -> None:
    compute.agent("h1")
    compute.agent("h2")
    with compute.service.db.transaction() as tx:
        tx.execute(sa.update(models.Service).where(models.Service.host == "h2").values(
            last_seen=utcnow() - timedelta(seconds=120)))
    states = {s["host"]: s["state"] for s in compute.ok("GET", "/os-services", "admin")[
        "services"]}
    assert states == {"h1": "up", "h2": "down"}
    hosts = compute.service.hosts
    assert hosts.is_up("h1") and not hosts.is_up("h2") and not hosts.is_up("h9")
    assert hosts.hosts_up() == {"h1"}
    compute.conductor.heartbeat("h2", "nova-compute")
    assert hosts.is_up("h2")
    server = compute.server("a", host="h1")
    h1 = next(s for s in compute.ok("GET", "/os-services", "admin")["services"]
              if s["host"] == "h1")
    assert "hosting instances" in fault(compute.call("DELETE", f"/os-services/{h1['id']}",
                                                     "admin"), 409)
    with compute.service.db.transaction() as tx:
        tx.execute(sa.update(models.Instance).where(models.Instance.id == server)
                   .values(deleted=True))
    assert compute.call("DELETE", f"/os-services/{h1['id']}", "admin").status_code == 204
    assert [s["host"] for s in compute.ok("GET", "/os-services", "admin")["services"]] == ["h2"]
    assert [h["hypervisor_hostname"] for h in compute.ok(
        "GET", "/os-hypervisors", "admin")["hypervisors"]] == ["h2.example.org"]
    fault(compute.call("DELETE", f"/os-services/{h1['id']}", "admin"), 404)
    fault(compute.call("DELETE", "/os-services/x", "admin"), 400)
    fault(compute.call("DELETE", "/os-services/x", "admin", version="2.52"), 400)


def test_hypervisors(compute: Compute) -> None:
    compute.agent("h1")
    compute.agent("h2")
    server = compute.server("a", host="h1", vcpus=2, ram=2048)
    fault(compute.call("GET", "/os-hypervisors"), 403)
    detail = compute.ok("GET", "/os-hypervisors/detail", "admin", version="2.88")[
        "hypervisors"]
    h1 = next(h for h in detail if h["hypervisor_hostname"] == "h1.example.org")
    assert h1["hypervisor_type"] == "QEMU" and h1["host_ip"] == "10.0.0.1"
    assert h1["state"] == "up" and h1["status"] == "enabled" and h1["uptime"] is None
    assert h1["service"]["host"] == "h1" and uuid.UUID(h1["service"]["id"])
    assert "vcpus" not in h1 and "running_vms" not in h1
    old = compute.ok("GET", f"/os-hypervisors/{h1['id']}", "admin", version="2.87")[
        "hypervisor"]
    assert (old["vcpus"], old["vcpus_used"], old["memory_mb_used"], old["running_vms"]) == (
        8, 2, 2048, 1)
    assert old["free_ram_mb"] == 16384 - 2048 and old["free_disk_gb"] == 199
    assert old["current_workload"] == 0 and old["cpu_info"] == {}
    legacy = compute.ok("GET", "/os-hypervisors/detail", "admin", version="2.27")[
        "hypervisors"]
    assert all(isinstance(h["id"], int) and h["cpu_info"] == "{}" for h in legacy)
    by_int = compute.ok("GET", f"/os-hypervisors/{legacy[0]['id']}", "admin", version="2.27")
    assert by_int["hypervisor"]["id"] == legacy[0]["id"]
    brief = compute.ok("GET", "/os-hypervisors", "admin")["hypervisors"]
    assert set(brief[0]) == {"id", "hypervisor_hostname", "state", "status"}
    assert fault(compute.call("GET", "/os-hypervisors/abc", "admin"), 400) == "Invalid uuid abc"
    assert fault(compute.call("GET", "/os-hypervisors/abc", "admin", version="2.52"), 404) == (
        "Hypervisor with ID 'abc' could not be found.")
    fault(compute.call("GET", f"/os-hypervisors/{uuid.uuid4()}", "admin"), 404)
    stats = compute.ok("GET", "/os-hypervisors/statistics", "admin", version="2.1")[
        "hypervisor_statistics"]
    assert stats["count"] == 2 and stats["vcpus"] == 16 and stats["vcpus_used"] == 2
    assert stats["running_vms"] == 1 and stats["memory_mb_used"] == 2048
    fault(compute.call("GET", "/os-hypervisors/statistics", "admin"), 404)
    found = compute.ok("GET", "/os-hypervisors", "admin",
                       params={"hypervisor_hostname_pattern": "h1", "with_servers": "true"})
    assert [h["servers"] for h in found["hypervisors"]] == [[{"uuid": server, "name": "vm"}]]
    fault(compute.call("GET", "/os-hypervisors", "admin",
                       params={"hypervisor_hostname_pattern": "zz"}), 404)
    page = compute.ok("GET", "/os-hypervisors", "admin", params={"limit": 1})
    assert len(page["hypervisors"]) == 1 and page["hypervisors_links"][0]["rel"] == "next"
    rest = compute.ok("GET", "/os-hypervisors", "admin",
                      params={"marker": page["hypervisors"][0]["id"]})
    assert len(rest["hypervisors"]) == 1 and "hypervisors_links" not in rest
    assert compute.ok("GET", "/os-aggregates", "admin") == {"aggregates": []}


def test_availability_zones(compute: Compute) -> None:
    compute.agent("h1")
    compute.agent("h2", "az2")
    compute.agent("h3", "az3")
    zones = compute.ok("GET", "/os-availability-zone", version=None)["availabilityZoneInfo"]
    assert zones == [{"zoneName": z, "zoneState": {"available": True}, "hosts": None}
                     for z in ("az2", "az3", "nova")]
    h3 = next(s for s in compute.ok("GET", "/os-services", "admin")["services"]
              if s["host"] == "h3")
    compute.ok("PUT", f"/os-services/{h3['id']}", "admin", json={"status": "disabled"})
    zones = compute.ok("GET", "/os-availability-zone")["availabilityZoneInfo"]
    assert [(z["zoneName"], z["zoneState"]["available"]) for z in zones] == [
        ("az2", True), ("nova", True), ("az3", False)]
    assert compute.service.hosts.zone_names() == {"az2", "nova"}
    fault(compute.call("GET", "/os-availability-zone/detail"), 403)
    detail = compute.ok("GET", "/os-availability-zone/detail", "admin")["availabilityZoneInfo"]
    az2 = detail[0]
    assert az2["zoneName"] == "az2"
    service = az2["hosts"]["h2"]["nova-compute"]
    assert service["available"] is True and service["active"] is True
    assert service["updated_at"]
    assert detail[2] == {"zoneName": "az3", "zoneState": {"available": False}, "hosts": None}


# -- what the servers code calls, and the common errors ----------------------------------

def test_lookups_for_the_servers_code(compute: Compute) -> None:
    public, _ = ssh_key()
    compute.ok("POST", "/os-keypairs", json={"keypair": {"name": "k", "public_key": public}})
    keys = compute.service.keypairs
    assert keys.find(compute.users["alice"], "k").public_key == public
    with pytest.raises(BadRequest, match=r"^Invalid key_name provided\.$"):
        keys.find(compute.users["bob"], "k")
    group_id = compute.ok("POST", "/os-server-groups", json={"server_group": {
        "name": "g", "policy": "affinity"}})["server_group"]["id"]
    alice = RequestContext(user_id=compute.users["alice"], project_id=compute.projects["a"])
    bob = RequestContext(user_id=compute.users["bob"], project_id=compute.projects["b"])
    assert compute.service.groups.get_for_server(alice, group_id).policy == "affinity"
    with pytest.raises(BadRequest, match="could not be found"):
        compute.service.groups.get_for_server(bob, group_id)
    member = compute.server("a", group=group_id)
    with compute.service.db.reading() as tx:
        assert compute.service.groups.members(tx, group_id) == [member]


def test_the_openapi_document_describes_every_route(compute: Compute) -> None:
    resp = compute.client.get("/compute/v2.1/openapi.json")  # no token, no microversion
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["openapi"] == "3.1.0"
    for who in ("admin", "alice", "ann", "bob"):  # public: the same for every caller
        assert compute.call("GET", "/openapi.json", who).json() == doc
    check_document(doc, compute_api(compute.service, compute.cloud.identity.tokens))
    servers = doc["paths"]["/v2.1/servers"]["get"]["parameters"]
    assert {"limit", "marker", "name", "status", "all_tenants"} <= {p["name"] for p in servers}
    create = doc["paths"]["/v2.1/servers"]["post"]["requestBody"]
    assert create["content"]["application/json"]["schema"]["required"] == ["server"]
    assert doc["paths"]["/v2.1/servers/{server_id}"]["get"]["parameters"] == [
        {"name": "server_id", "in": "path", "required": True,
         "schema": {"type": "string", "minLength": 1}}]


def test_authentication_and_version_errors(compute: Compute) -> None:
    resp = compute.client.get("/compute/v2.1/flavors")
    assert fault(resp, 401)
    resp = compute.call("GET", "/os-keypairs", version="2.101")
    assert resp.status_code == 406 and "computeFault" in resp.json()
    assert compute.call("GET", "/flavors", version="2.61").headers[
        "OpenStack-API-Version"] == "compute 2.61"
