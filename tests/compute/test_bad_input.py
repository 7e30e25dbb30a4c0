"""Bad requests get a clear 4xx in Nova's error format, never a 500, and leave nothing
behind; other projects' things are invisible and untouchable."""

from __future__ import annotations

from typing import Any

import pytest

from tests.compute.conftest import Plane


def error(resp: Any, code: int) -> str:
    assert resp.status_code == code, f"{resp.status_code} != {code}: {resp.text[:300]}"
    (name, body), = resp.json().items()
    assert name in {400: ("badRequest",), 403: ("forbidden",), 404: ("itemNotFound",),
                    406: ("computeFault",), 409: ("conflictingRequest",)}[code], name
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    return str(body["message"])


def server(plane: Plane, **fields: Any) -> dict[str, Any]:
    return {"server": {"name": "x", "imageRef": plane.image_id, "flavorRef": "1",
                       "networks": "none", **fields}}


@pytest.mark.parametrize("fields,code,message", [
    ({"flavorRef": "nope"}, 400, "Flavor nope could not be found."),
    ({"imageRef": "00000000-0000-0000-0000-000000000000"}, 400,
     "Can not find requested image"),
    ({"name": "x" * 256}, 400, ""),
    ({"name": ""}, 400, ""),
    ({"name": " padded "}, 400, ""),
    ({"key_name": "missing"}, 400, "Invalid key_name provided."),
    ({"user_data": "not base64!"}, 400, "User data needs to be valid base 64."),
    ({"min_count": 3, "max_count": 2}, 400, "min_count must be <= max_count"),
    ({"min_count": 0}, 400, ""),
    ({"availability_zone": "mars"}, 400,
     "The requested availability zone is not available: mars"),
    ({"networks": [{"uuid": "5b0b5e8e-0000-0000-0000-000000000000"}]}, 400,
     "Network 5b0b5e8e-0000-0000-0000-000000000000 could not be found."),
    ({"security_groups": [{"name": "web"}]}, 400, "Security group web not found."),
    ({"metadata": {"k": 1}}, 400, ""),
    ({"bogus": True}, 400, ""),
    ({"imageRef": "", "block_device_mapping_v2": [[]]}, 400, ""),
    ({"min_count": 11}, 403,
     "Quota exceeded for instances: Requested 11, but already used 0 of 10 instances"),
])
def test_bad_server_create(plane: Plane, fields: dict[str, Any], code: int,
                           message: str) -> None:
    got = error(plane.call("POST", "/servers", json=server(plane, **fields)), code)
    if message:
        assert got == message
    assert plane.ok("GET", "/servers")["servers"] == []


@pytest.mark.parametrize("path", ["/servers/a%0Ab", "/flavors/1%0A2", "/os-keypairs/a%0Ab"])
def test_a_newline_in_an_id_is_the_apis_own_404(plane: Plane, path: str) -> None:
    error(plane.call("GET", path), 404)


@pytest.mark.parametrize("path", ["/os-server-groups?offset=" + "9" * 40,
                                  "/flavors?minRam=" + "9" * 40, "/flavors?minDisk=-" + "9" * 40,
                                  "/flavors/detail?min_ram=2147483648"])
def test_numbers_past_the_databases_in_queries_are_400(plane: Plane, path: str) -> None:
    error(plane.call("GET", path), 400)


@pytest.mark.parametrize("method,path,version,code", [
    ("GET", "/servers?limit=\u00b2", "2.100", 400),
    ("GET", "/os-keypairs?limit=\u00b2", "2.100", 400),
    ("GET", "/os-server-groups?offset=\u00b2", "2.100", 400),
    ("GET", "/os-security-groups?limit=\u00b2", "2.35", 400),
    ("GET", "/flavors?minRam=\u00b2", "2.100", 400),
    ("GET", "/os-hypervisors/\u00b2", "2.1", 404),
    ("DELETE", "/os-services/\u00b2", "2.1", 400),
])
def test_digits_that_are_not_ascii_are_refused(plane: Plane, method: str, path: str,
                                               version: str, code: int) -> None:
    """``str.isdigit`` takes "\u00b2" (a superscript two), which ``int()`` refuses."""
    error(plane.call(method, path, "admin", version=version), code)


@pytest.mark.parametrize("since", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00%2B23:59"])
def test_a_changes_since_past_the_calendar_is_400(plane: Plane, since: str) -> None:
    error(plane.call("GET", f"/servers/detail?changes-since={since}"), 400)


def test_networks_by_microversion(plane: Plane) -> None:
    body = server(plane)
    del body["server"]["networks"]
    assert "networks" in error(plane.call("POST", "/servers", json=body), 400)
    assert "2.37" in error(plane.call("POST", "/servers", json=server(plane), version="2.36"),
                           400)
    made = plane.call("POST", "/servers", json=body, version="2.36")
    assert made.status_code == 202, made.text


@pytest.mark.parametrize("header,code", [("compute 2.101", 406), ("compute 3.0", 406),
                                         ("compute 2.x", 400), ("compute 2.0", 406)])
def test_bad_microversion(plane: Plane, header: str, code: int) -> None:
    resp = plane.call("GET", "/servers", version="",
                      headers={"OpenStack-API-Version": header})
    error(resp, code)
    assert resp.headers["OpenStack-API-Version"] == "compute 2.1"


def test_microversion_echo(plane: Plane) -> None:
    for sent, echoed in (("compute 2.47", "compute 2.47"), ("compute latest", "compute 2.100"),
                         ("", "compute 2.1")):
        resp = plane.call("GET", "/flavors", version="",
                          headers={"OpenStack-API-Version": sent} if sent else {})
        assert resp.status_code == 200
        assert resp.headers["OpenStack-API-Version"] == echoed
        assert resp.headers["X-OpenStack-Nova-API-Version"] == echoed.split()[1]
        assert "OpenStack-API-Version" in resp.headers.get_list("Vary")
    legacy = plane.call("GET", "/flavors", version="",
                        headers={"X-OpenStack-Nova-API-Version": "2.60"})
    assert legacy.headers["OpenStack-API-Version"] == "compute 2.60"


def test_fields_follow_the_microversion(plane: Plane) -> None:
    made = plane.create()
    old = plane.ok("GET", f"/servers/{made['id']}", version="2.1")["server"]
    assert set(old["flavor"]) == {"id", "links"}
    for late in ("locked", "description", "tags", "locked_reason", "pinned_availability_zone",
                 "scheduler_hints", "trusted_image_certificates"):
        assert late not in old
    new = plane.ok("GET", f"/servers/{made['id']}", version="2.100")["server"]
    assert new["flavor"]["original_name"] == "m1.tiny"
    assert new["locked"] is False and new["tags"] == [] and new["scheduler_hints"] == {}


def test_actions_in_the_wrong_state(plane: Plane) -> None:
    made = plane.create()
    sid = made["id"]
    start = plane.call("POST", f"/servers/{sid}/action", json={"os-start": None})
    assert error(start, 409) == f"Cannot 'start' instance {sid} while it is in vm_state active"
    assert plane.call("POST", f"/servers/{sid}/action", json={"nonsense": {}}).status_code == 400
    assert plane.call("POST", f"/servers/{sid}/action",
                      json={"reboot": {"type": "GENTLE"}}).status_code == 400
    plane.ok("POST", f"/servers/{sid}/action", json={"lock": None}, version="2.73")
    assert error(plane.call("DELETE", f"/servers/{sid}"), 409) == f"Instance {sid} is locked"
    assert error(plane.call("POST", f"/servers/{sid}/action", json={"os-stop": None}),
                 409) == f"Instance {sid} is locked"
    plane.ok("POST", f"/servers/{sid}/action", json={"unlock": None})
    assert plane.call("DELETE", f"/servers/{sid}").status_code == 204


def test_snapshot_needs_an_image_service_for_the_hosts(plane: Plane) -> None:
    sid = plane.create()["id"]
    resp = plane.call("POST", f"/servers/{sid}/action", json={"createImage": {"name": "s"}})
    assert error(resp, 400) == ("No image service is reachable from the hosts to keep the "
                                "snapshot in.")
    assert plane.show(sid)["OS-EXT-STS:task_state"] is None
    assert plane.call("POST", f"/servers/{sid}/action",
                      json={"createImage": {}}).status_code == 400


def test_malformed_bodies(plane: Plane) -> None:
    for raw in (b"{", b"[]", b'{"server": 1}', b'{"server": {"name": NaN}}'):
        resp = plane.client.post("/compute/v2.1/servers", content=raw, headers={
            "X-Auth-Token": plane.token("alice"), "Content-Type": "application/json"})
        error(resp, 400)
    assert plane.call("GET", "/servers/not-a-uuid").status_code == 404
    assert plane.call("GET", "/servers?limit=-1").status_code == 400
    assert plane.call("GET", "/servers?marker=nope").status_code == 400
    assert plane.call("GET", "/servers?changes-since=yesterday").status_code == 400
    assert plane.call("GET", "/servers?status=ASLEEP").status_code == 400


def test_another_projects_things(plane: Plane) -> None:
    made = plane.create("alice")
    sid = made["id"]
    for method, path, body in (("GET", f"/servers/{sid}", None),
                               ("PUT", f"/servers/{sid}", {"server": {"name": "y"}}),
                               ("DELETE", f"/servers/{sid}", None),
                               ("POST", f"/servers/{sid}/action", {"os-stop": None}),
                               ("GET", f"/servers/{sid}/metadata", None),
                               ("GET", f"/servers/{sid}/os-instance-actions", None)):
        assert plane.call(method, path, "bob", json=body).status_code == 404, (method, path)
    group = plane.ok("POST", "/os-server-groups", json={
        "server_group": {"name": "g", "policy": "affinity"}})["server_group"]
    assert plane.call("GET", f"/os-server-groups/{group['id']}", "bob").status_code == 404
    assert plane.call("DELETE", f"/os-server-groups/{group['id']}", "bob").status_code == 404
    assert plane.ok("GET", "/os-server-groups", "bob")["server_groups"] == []
    hint = {**server(plane), "os:scheduler_hints": {"group": group["id"]}}
    assert plane.call("POST", "/servers", "bob", json=hint).status_code == 400
    assert plane.call("GET", "/servers?all_tenants=1", "bob").status_code == 403
    for path in ("/os-services", "/os-hypervisors", "/os-hypervisors/detail"):
        assert plane.call("GET", path, "bob").status_code == 403, path
    assert plane.ok("GET", f"/servers/{sid}")["server"]["name"] == "vm"
    everyone = plane.ok("GET", "/servers?all_tenants=1", "admin")["servers"]
    assert sid in {s["id"] for s in everyone}
