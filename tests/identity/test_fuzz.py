"""The identity API fuzzed from its OpenAPI document (see tests/fuzzing.py)."""

from __future__ import annotations

import pytest

from labs.identity.api import build_api
from labs.identity.resources import ProjectFilter
from tests.conftest import Cloud
from tests.fuzzing import (
    Fuzz,
    check_document,
    fuzz,
    keystone_shape,
    mariadb_only,  # noqa: F401 -- this module's db_url
    serve,
)


@pytest.mark.fuzz
def test_fuzz_identity(cloud: Cloud) -> None:
    cloud.project("b")
    member = cloud.user("bob", "pw", {"b": "member"})
    victim_project = cloud.project("victim")
    victim = cloud.user("victim", "pw", {"victim": "member"})
    group = cloud.identity.users.create_group({"name": "victims"}, "default").id
    roles = {r.name: r.id for r in cloud.identity.assignments.list_roles(None)}
    projects = cloud.identity.resources.list_projects(ProjectFilter(name="b"))
    known = {"user_id": [victim, member], "project_id": [victim_project, projects[0].id],
             "group_id": [group], "role_id": [roles["member"]], "domain_id": ["default"],
             "target_id": [victim_project], "actor_id": [victim], "targets": ["projects"],
             "actors": ["users"]}
    callers = {"admin": {"X-Auth-Token": cloud.admin_token()},
               "member of b": {"X-Auth-Token": cloud.token("bob", "pw", "b")}}
    doc = cloud.client.get("/identity/v3/openapi.json").json()
    check_document(doc, build_api(cloud.identity))
    with serve(cloud.client.app) as url:
        fuzz(Fuzz(f"{url}/identity", callers, keystone_shape, known), doc)
