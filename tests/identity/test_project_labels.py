"""Project names as Keystone takes them, and the DNS label each project gets."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from labs.identity import models
from tests.conftest import Cloud
from tests.identity.test_bad_input import Api

TEMPEST = "tempest-ImagesTagsTest-1507726952"


@pytest.fixture
def api(cloud: Cloud) -> Api:
    client = TestClient(cloud.client.app, base_url="http://testserver",
                        raise_server_exceptions=False)
    return Api(cloud, client, cloud.admin_token())


def create(api: Api, name: str, **more: Any) -> dict[str, Any]:
    body: dict[str, Any] = api.ok("POST", "/projects", {"project": {"name": name, **more}})
    return body["project"]


def test_names_keystone_takes_get_labels(api: Api) -> None:
    for name, label in ((TEMPEST, "tempest-imagestagstest-1507726952"),
                        ("Tempest-Proj.1", "tempest-proj-1"), ("Bots & Tools", "bots-tools"),
                        ("Café Überall", "cafe-uberall"), ("2020 wiki", "p-2020-wiki"),
                        ("...", "project"), ("名前", "project-2"), ("a" * 64, "a" * 63)):
        made = create(api, name)
        assert (made["name"], made["label"]) == (name, label)
        shown = api.ok("GET", f"/projects/{made['id']}")["project"]
        assert (shown["name"], shown["label"]) == (name, label)
    listed = {p["name"]: p["label"] for p in api.ok("GET", "/projects")["projects"]}
    assert listed["demo"] == "demo" and listed[TEMPEST].startswith("tempest-")
    found = api.ok("GET", "/projects?name=Tempest-Proj.1")["projects"]
    assert [p["label"] for p in found] == ["tempest-proj-1"]


def test_a_label_that_is_taken_gets_a_suffix(api: Api) -> None:
    labels = [create(api, name)["label"] for name in ("Web", "web!", "WEB.", "-web-")]
    assert labels == ["web", "web-2", "web-3", "web-4"]
    long = [create(api, f"{'x' * 63}{tail}")["label"] for tail in ("", "a", "b")]
    assert long == ["x" * 63, "x" * 61 + "-2", "x" * 61 + "-3"]
    # another domain's project of the same name gets its own label too
    other = api.ok("POST", "/domains", {"domain": {"name": "other"}})["domain"]["id"]
    assert create(api, "Web", domain_id=other)["label"] == "web-5"


def test_the_same_name_twice_in_a_domain_is_409(api: Api) -> None:
    create(api, "Tempest-Proj.1")
    api.refused(409, "POST", "/projects", {"project": {"name": "Tempest-Proj.1"}})
    # (MariaDB, as MySQL under Keystone, compares names without case: not tested here)
    assert create(api, "Tempest-Proj_1")["label"] == "tempest-proj-1-2"


def test_a_rename_keeps_the_label(api: Api) -> None:
    made = create(api, "Tempest-Proj.1")
    renamed = api.ok("PATCH", f"/projects/{made['id']}",
                     {"project": {"name": "Something Else Entirely"}})["project"]
    assert (renamed["name"], renamed["label"]) == ("Something Else Entirely", "tempest-proj-1")
    assert api.identity.resources.label_of(made["id"]) == "tempest-proj-1"
    # the old name is free again, the label is not: a new project gets the next one
    assert create(api, "Tempest-Proj.1")["label"] == "tempest-proj-1-2"


def test_the_label_cannot_be_changed(api: Api) -> None:
    made = create(api, "Tempest-Proj.1")
    message = api.refused(400, "PATCH", f"/projects/{made['id']}",
                          {"project": {"label": "mine", "description": "d"}})
    assert "label" in message
    api.ok("PATCH", f"/projects/{made['id']}", {"project": {"extra": {"label": "mine"}}})
    shown = api.ok("GET", f"/projects/{made['id']}")["project"]
    assert shown["label"] == "tempest-proj-1" and shown["description"] == ""


def test_a_creator_may_propose_a_label(api: Api) -> None:
    assert create(api, "Bots & Tools", label="tools")["label"] == "tools"
    # a proposed label that is taken is refused, not suffixed
    message = api.refused(409, "POST", "/projects", {"project": {"name": "X", "label": "demo"}})
    assert "demo" in message
    assert create(api, "tools")["label"] == "tools-2"


def test_the_token_keeps_the_name_and_the_context_has_the_label(api: Api) -> None:
    made = create(api, "Tempest-Proj.1")
    user = api.identity.users.create_user({"name": "Alice Example", "password": "pw"},
                                          "default")
    api.cloud.grant(user.id, "Tempest-Proj.1", "member")
    token = api.cloud.token("Alice Example", "pw", "Tempest-Proj.1")
    resp = api.call("GET", "/auth/tokens", headers={"X-Subject-Token": token})
    assert resp.json()["token"]["project"]["name"] == "Tempest-Proj.1"
    ctx = api.identity.tokens.authenticate(token)
    assert (ctx.project_id, ctx.project_name, ctx.project_label) == (
        made["id"], "Tempest-Proj.1", "tempest-proj-1")


def test_login_names_are_free(api: Api) -> None:
    for name in ("Alice Example", "Ünïcödé User", "a.b@example.org", "x" * 255):
        assert api.ok("POST", "/users", {"user": {"name": name}})["user"]["name"] == name
    for name in ("", "  ", "x" * 256):
        api.refused(400, "POST", "/users", {"user": {"name": name}})


def test_concurrent_creations_never_share_a_label(api: Api) -> None:
    """Eight names with one label between them, made at once: the unique index and the
    retry hand out the label and its suffixes, each once."""
    labels: list[str] = []
    errors: list[BaseException] = []

    def make(n: int) -> None:
        try:
            labels.append(api.identity.resources.create_project(
                {"name": "Same.Name" + "!" * n}, "default").label)
        except BaseException as exc:  # reported below, with the thread's own failure
            errors.append(exc)

    threads = [threading.Thread(target=make, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sorted(labels) == sorted(["same-name"] + [f"same-name-{n}" for n in range(2, 9)])
    with api.identity.store.read() as tx:
        stored = tx.scalars(sa.select(models.Project.label)).all()
    assert len(stored) == len(set(stored))
