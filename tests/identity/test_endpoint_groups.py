"""Endpoint groups (OS-EP-FILTER) and policy blobs through the identity API
(who may call them: test_protection)."""

from __future__ import annotations

from typing import Any

from tests.conftest import Cloud

V3 = "/identity/v3"
EGS = f"{V3}/OS-EP-FILTER/endpoint_groups"


def test_endpoint_group_crud_projects_and_endpoints(cloud: Cloud) -> None:
    h = cloud.headers(cloud.admin_token())
    client = cloud.client
    public = [e["id"] for e in client.get(f"{V3}/endpoints?interface=public",
                                          headers=h).json()["endpoints"]]
    made = client.post(EGS, headers=h, json={"endpoint_group": {
        "name": "pub", "description": "d", "filters": {"interface": "public"}}})
    assert made.status_code == 201, made.text
    group = made.json()["endpoint_group"]
    assert {k: group[k] for k in ("name", "description", "filters")} == {
        "name": "pub", "description": "d", "filters": {"interface": "public"}}
    assert group["links"]["self"].endswith(f"/OS-EP-FILTER/endpoint_groups/{group['id']}")
    gid = group["id"]
    assert [g["id"] for g in client.get(EGS, headers=h).json()["endpoint_groups"]] == [gid]
    assert client.get(f"{EGS}?name=nope", headers=h).json()["endpoint_groups"] == []
    assert [e["id"] for e in client.get(f"{EGS}/{gid}/endpoints",
                                        headers=h).json()["endpoints"]] == sorted(public)
    patched = client.patch(f"{EGS}/{gid}", headers=h,
                           json={"endpoint_group": {"name": "renamed"}}).json()
    assert patched["endpoint_group"]["name"] == "renamed"
    project = cloud.project("p")
    assert client.get(f"{EGS}/{gid}/projects/{project}", headers=h).status_code == 404
    assert client.put(f"{EGS}/{gid}/projects/{project}", headers=h).status_code == 204
    assert client.put(f"{EGS}/{gid}/projects/{project}", headers=h).status_code == 204
    shown = client.get(f"{EGS}/{gid}/projects/{project}", headers=h).json()
    assert shown["project_endpoint_group"]["project_id"] == project
    assert [p["id"] for p in client.get(f"{EGS}/{gid}/projects",
                                        headers=h).json()["projects"]] == [project]
    of_project = client.get(f"{V3}/OS-EP-FILTER/projects/{project}/endpoint_groups",
                            headers=h).json()["endpoint_groups"]
    assert [g["id"] for g in of_project] == [gid]
    assert client.delete(f"{EGS}/{gid}/projects/{project}", headers=h).status_code == 204
    assert client.get(f"{EGS}/{gid}/projects", headers=h).json()["projects"] == []
    assert client.put(f"{EGS}/{gid}/projects/nope", headers=h).status_code == 404
    assert client.delete(f"{EGS}/{gid}", headers=h).status_code == 204
    assert client.get(f"{EGS}/{gid}", headers=h).status_code == 404


def test_endpoint_group_bad_input(cloud: Cloud) -> None:
    h = cloud.headers(cloud.admin_token())
    bodies: list[Any] = [
        {}, {"endpoint_group": {"name": "x"}}, {"endpoint_group": {"filters": {}}},
        {"endpoint_group": {"name": "x", "filters": {"url": "http://x"}}},
        {"endpoint_group": {"name": "x", "filters": {}}},
        {"endpoint_group": {"name": "", "filters": {"interface": "public"}}},
        {"endpoint_group": {"name": "x", "filters": "interface=public"}}, []]
    for body in bodies:
        resp = cloud.client.post(EGS, headers=h, json=body)
        assert resp.status_code == 400, (body, resp.text)
        assert resp.json()["error"]["code"] == 400
    assert cloud.client.get(EGS, headers=h).json()["endpoint_groups"] == []
    gid = cloud.client.post(EGS, headers=h, json={"endpoint_group": {
        "name": "x", "filters": {"region_id": "RegionOne"}}}).json()["endpoint_group"]["id"]
    for body in ({"endpoint_group": {}}, {"endpoint_group": {"filters": {"bad": 1}}}):
        assert cloud.client.patch(f"{EGS}/{gid}", headers=h, json=body).status_code == 400
    assert cloud.client.get(f"{EGS}/{gid}", headers=h).json()["endpoint_group"][
        "filters"] == {"region_id": "RegionOne"}


def test_policy_blobs(cloud: Cloud) -> None:
    h = cloud.headers(cloud.admin_token())
    client = cloud.client
    made = client.post(f"{V3}/policies", headers=h, json={"policy": {
        "blob": '{"a": "rule:b"}', "type": "application/json", "note": "kept"}})
    assert made.status_code == 201, made.text
    policy = made.json()["policy"]
    assert (policy["blob"], policy["type"], policy["note"]) == (
        '{"a": "rule:b"}', "application/json", "kept")
    pid = policy["id"]
    client.post(f"{V3}/policies", headers=h, json={"policy": {"blob": "x", "type": "text/x"}})
    listed = client.get(f"{V3}/policies?type=application/json", headers=h).json()["policies"]
    assert [p["id"] for p in listed] == [pid]
    assert len(client.get(f"{V3}/policies", headers=h).json()["policies"]) == 2
    patched = client.patch(f"{V3}/policies/{pid}", headers=h,
                           json={"policy": {"blob": "{}"}}).json()["policy"]
    assert patched["blob"] == "{}" and patched["type"] == "application/json"
    for body in ({}, {"policy": {"blob": "x"}}, {"policy": {"type": "t"}},
                 {"policy": {"blob": 1, "type": "t"}}):
        assert client.post(f"{V3}/policies", headers=h, json=body).status_code == 400
    assert client.patch(f"{V3}/policies/{pid}", headers=h,
                        json={"policy": {}}).status_code == 400
    assert client.delete(f"{V3}/policies/{pid}", headers=h).status_code == 204
    missing = client.get(f"{V3}/policies/{pid}", headers=h)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == f"Could not find policy: {pid}."
