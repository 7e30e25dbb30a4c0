"""The image API fuzzed from its OpenAPI document (see tests/fuzzing.py)."""

from __future__ import annotations

import pytest

from labs.image.api import build_api
from tests.fuzzing import (
    Fuzz,
    check_document,
    fuzz,
    glance_shape,
    mariadb_only,  # noqa: F401 -- this module's db_url
    serve,
)
from tests.image.conftest import OCTETS, Images


@pytest.mark.fuzz
def test_fuzz_image(images: Images) -> None:
    queued = images.create("alice", name="queued", disk_format="raw", container_format="bare")
    active = images.create("alice", name="active", disk_format="raw", container_format="bare",
                           visibility="shared")
    assert images.call("PUT", f"/images/{active['id']}/file", "alice", content=b"x" * 512,
                       headers=OCTETS).status_code == 204
    known = {"image_id": [queued["id"], active["id"]], "member_id": [images.projects["b"]],
             "tag": ["t"]}
    callers = {"admin": {"X-Auth-Token": images.token("admin")},
               "member of b": {"X-Auth-Token": images.token("bob")}}
    doc = images.client.get("/image/v2/openapi.json").json()
    check_document(doc, build_api(images.service, images.cloud.identity.tokens))
    with serve(images.client.app) as url:
        fuzz(Fuzz(f"{url}/image", callers, glance_shape, known), doc)
