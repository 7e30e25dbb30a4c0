"""The compute API (fake driver) fuzzed from its OpenAPI document (see tests/fuzzing.py)."""

from __future__ import annotations

import pytest

from labs.compute.api.routes import build_api
from labs.identity.resources import ProjectFilter
from tests.compute.conftest import LATEST, Plane
from tests.fuzzing import (
    Fuzz,
    check_document,
    fuzz,
    mariadb_only,  # noqa: F401 -- this module's db_url
    nova_shape,
    serve,
)


@pytest.mark.fuzz
def test_fuzz_compute(plane: Plane) -> None:
    victim = plane.create("alice", name="victim")
    group = plane.ok("POST", "/os-server-groups", "alice", json={"server_group": {
        "name": "g", "policy": "affinity"}})["server_group"]["id"]
    secgroup = plane.ok("POST", "/os-security-groups", "alice", version="2.35", json={
        "security_group": {"name": "web", "description": "web"}})["security_group"]["id"]
    plane.ok("POST", "/os-keypairs", "alice", json={"keypair": {"name": "k", "public_key": (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb3T0f7pKq0GrjZ4Xq3a7s8YxOeRJjcJQy7kbXKbRhN")}})
    projects = {p.name: p.id for p in plane.cloud.identity.resources.list_projects(
        ProjectFilter())}
    known = {"server_id": [victim["id"]], "flavor_id": ["1"], "group_id": [group, str(secgroup)],
             "project_id": [projects["a"], projects["b"]], "name": ["k"],
             "hypervisor_id": ["1"], "image_id": [plane.image_id],
             "alias": ["os-pause-server"]}
    # the newest microversion, and the oldest (the proxy APIs, the older bodies)
    callers = {"admin": {"X-Auth-Token": plane.token("admin"),
                         "OpenStack-API-Version": f"compute {LATEST}"},
               "member of b": {"X-Auth-Token": plane.token("bob"),
                               "OpenStack-API-Version": "compute 2.1"},
               "admin at 2.1": {"X-Auth-Token": plane.token("admin"),
                                "OpenStack-API-Version": "compute 2.1"}}
    doc = plane.client.get("/compute/v2.1/openapi.json").json()
    check_document(doc, build_api(plane.service, plane.cloud.identity.tokens))
    with serve(plane.client.app) as url:
        fuzz(Fuzz(f"{url}/compute", callers, nova_shape, known), doc)
