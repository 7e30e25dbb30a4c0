"""The shared HTTP layer: routes, errors, request ids, limits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from labs.common.errors import BadRequest, Conflict
from labs.common.http import Api, Call, Microversions, nova_error
from labs.common.runner import compose


@pytest.fixture
def client() -> Iterator[TestClient]:
    api = Api("sample", max_body=64)

    @api.post("/things", status=201, public=True, schema={
        "type": "object", "required": ["thing"],
        "properties": {"thing": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "maxLength": 5}}}}})
    def create(call: Call) -> dict[str, object]:
        if call.body["thing"]["name"] == "dup":
            raise Conflict("a thing named dup exists")
        return {"thing": call.body["thing"]}

    @api.get("/boom", public=True)
    def boom(_call: Call) -> None:
        raise RuntimeError("bug")

    nova = Api("novaish", render_error=nova_error)

    @nova.get("/x/{x_id}", public=True)
    def show(call: Call) -> None:
        from labs.common.errors import NotFound
        raise NotFound(f"no {call.params['x_id']}")

    with TestClient(compose({"/s": api.app(), "/n": nova.app()}),
                    raise_server_exceptions=False) as c:
        yield c


def test_success_and_request_id(client: TestClient) -> None:
    resp = client.post("/s/things", json={"thing": {"name": "a"}})
    assert resp.status_code == 201
    assert resp.headers["x-openstack-request-id"].startswith("req-")


@pytest.mark.parametrize(("body", "status"), [
    (b"{not json", 400), (b"[]", 400), (b'{"thing": {"name": 5}}', 400),
    (b'{"thing": {"name": "toolong"}}', 400), (b"", 400), (b"x" * 100, 413),
    (b'{"thing": {"name": "dup"}}', 409),
])
def test_bad_bodies_get_keystone_errors(client: TestClient, body: bytes, status: int) -> None:
    resp = client.post("/s/things", content=body, headers={"content-type": "application/json"})
    assert resp.status_code == status
    error = resp.json()["error"]
    assert error["code"] == status and error["title"] and error["message"]
    assert resp.headers["x-openstack-request-id"]


def test_unknown_routes_methods_and_crashes(client: TestClient) -> None:
    assert client.get("/s/nothing").json()["error"]["code"] == 404
    assert client.delete("/s/things").status_code == 405
    resp = client.get("/s/boom")
    assert resp.status_code == 500
    assert "bug" not in resp.text  # no internals leak out
    resp = client.get("/n/x/42")
    assert resp.json() == {"itemNotFound": {"code": 404, "message": "no 42"}}


def test_every_path_below_a_prefix_reaches_its_api(client: TestClient) -> None:
    resp = client.get("/n/x/a%0Ab")  # a newline in an id
    assert resp.json() == {"itemNotFound": {"code": 404, "message": "no a\nb"}}
    resp = client.get("/elsewhere/a%0Ab")  # under no API: still a JSON error
    assert resp.status_code == 404 and resp.json()["error"]["code"] == 404


def test_wrong_content_type(client: TestClient) -> None:
    resp = client.post("/s/things", content=b"name=a",
                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 415


def test_a_route_needs_a_token_before_its_body_is_looked_at() -> None:
    api = Api("guarded")

    @api.post("/things", schema={"type": "object"})
    def create(_call: Call) -> None:
        raise AssertionError("never reached")

    with TestClient(compose({"/g": api.app()})) as client:
        resp = client.post("/g/things", content=b"{not json",
                           headers={"content-type": "application/json"})
        assert resp.status_code == 401
        assert resp.json()["error"]["title"] == "Unauthorized"


def test_a_microversion_in_digits_other_than_ascii_is_400() -> None:
    """``str.isdigit`` takes a superscript two, which ``int()`` refuses (a 500 once)."""
    versions = Microversions("compute", (2, 1), (2, 100))
    with pytest.raises(BadRequest, match="invalid format"):
        versions.requested({"openstack-api-version": "compute 2.\u00b2"})
