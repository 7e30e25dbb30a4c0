"""Fuzzing an API from its own OpenAPI document with schemathesis.

The app is served by uvicorn on loopback (a thread of the test process), so every request
has a real timeout: a hang fails as surely as a 500. Each operation gets a small, fixed
number of generated requests (valid and invalid ones, the same every run), each sent once
per caller: the cloud admin and a member of another project. Every answer must be below
500, and a 4xx must carry the API's OpenStack error body.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import jsonschema
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from starlette.types import ASGIApp

from labs.common.http import Api

#: Generated requests per operation and caller (more for a deeper run by hand).
MAX_EXAMPLES = int(os.environ.get("LABS_FUZZ_EXAMPLES", "6"))
#: Seconds one request may take before it counts as a hang.
REQUEST_TIMEOUT = 10.0

ErrorShape = Callable[[int, Any], bool]

# Glance's JSON patch bodies are JSON
schemathesis.serializer.alias("application/openstack-images-v2.1-json-patch", "application/json")


def keystone_shape(status: int, body: Any) -> bool:
    """``{"error": {"code", "title", "message"}}`` (identity)."""
    error = body.get("error") if isinstance(body, dict) else None
    return (isinstance(error, dict) and error.get("code") == status
            and _text(error.get("title")) and _text(error.get("message")))


def glance_shape(status: int, body: Any) -> bool:
    """``{"code": "404 Not Found", "title", "message"}`` (image)."""
    return (isinstance(body, dict) and _text(body.get("title")) and _text(body.get("message"))
            and body.get("code") == f"{status} {body['title']}")


def nova_shape(status: int, body: Any) -> bool:
    """``{"itemNotFound": {"code", "message"}}`` (compute)."""
    if not isinstance(body, dict) or len(body) != 1:
        return False
    (inner,) = body.values()
    return isinstance(inner, dict) and inner.get("code") == status and _text(inner.get("message"))


def designate_shape(status: int, body: Any) -> bool:
    """``{"code", "type", "message", "request_id"}`` (dns)."""
    return (isinstance(body, dict) and body.get("code") == status and _text(body.get("type"))
            and _text(body.get("message")) and _text(body.get("request_id")))


def neutron_shape(status: int, body: Any) -> bool:
    """``{"NeutronError": {"type", "message", "detail"}}`` (network)."""
    error = body.get("NeutronError") if isinstance(body, dict) else None
    return (isinstance(error, dict) and _text(error.get("type"))
            and _text(error.get("message")) and isinstance(error.get("detail"), str))


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


@pytest.fixture(name="db_url")
def mariadb_only(mariadb_url: str) -> str:
    """Fuzz runs use MariaDB alone (its columns are the stricter): one run per API."""
    return mariadb_url


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """``app`` on a free loopback port for the duration; yields its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off",
                                           log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, name="fuzz-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class Fuzz:
    """One API's fuzz run: where it is, who calls, what its errors look like."""

    base_url: str  # the API's prefix, e.g. http://127.0.0.1:PORT/compute
    callers: Mapping[str, dict[str, str]]  # name -> headers (token, microversion)
    error_shape: ErrorShape
    #: path parameter -> ids of real things, offered besides generated strings
    known: Mapping[str, list[str]] = field(default_factory=dict)
    #: operations (``METHOD /path``) left out, with why
    skip: Mapping[str, str] = field(default_factory=dict)
    max_examples: int = MAX_EXAMPLES
    #: how many answers of each status the run got
    statuses: Counter[int] = field(default_factory=Counter)

    def document(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The published document with the known ids offered for path parameters."""
        for operations in doc["paths"].values():
            for op in operations.values():
                for param in op.get("parameters", []):
                    ids = self.known.get(param["name"])
                    if param["in"] == "path" and ids:
                        param["schema"] = {"anyOf": [{"enum": ids}, param["schema"]]}
        return doc

    def run(self, doc: dict[str, Any]) -> list[str]:
        """Fuzz every operation; the failures found (empty when none)."""
        schema = schemathesis.openapi.from_dict(self.document(doc))
        failures: list[str] = []
        # deletes last, so the known things are there for every other operation
        operations = sorted((result.ok() for result in schema.get_all_operations()),
                            key=lambda op: op.method.upper() == "DELETE")
        assert operations, "the document lists no operations"
        for op in operations:
            label = f"{op.method.upper()} {op.path}"
            if label in self.skip:
                continue
            failure = self._operation(op)
            if failure:
                failures.append(f"{label}: {failure}")
        return failures

    def _operation(self, op: Any) -> str | None:
        modes = [op.as_strategy(generation_mode=GenerationMode.POSITIVE)]
        if op.path_parameters or op.query or op.body:
            modes.append(op.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        found: list[str] = []

        @hypothesis.settings(max_examples=self.max_examples, derandomize=True, deadline=None,
                             database=None, phases=[Phase.explicit, Phase.generate],
                             suppress_health_check=list(HealthCheck), print_blob=False)
        @given(case=st.one_of(modes))
        def check(case: Any) -> None:
            if found:
                return  # one failure per operation is enough to report
            for who, headers in self.callers.items():
                problem = self._call(case, headers)
                if problem:
                    found.append(f"as {who}: {problem}; {case.as_curl_command(headers)}")
                    return

        check()
        return found[0] if found else None

    def _call(self, case: Any, headers: dict[str, str]) -> str | None:
        try:
            resp = case.call(base_url=self.base_url, headers=headers, timeout=REQUEST_TIMEOUT)
        except Exception as exc:  # a timeout or a dropped connection: the server's fault
            return f"no answer ({type(exc).__name__}: {exc})"
        status = resp.status_code
        self.statuses[status] += 1
        if status >= 500:
            return f"{status} {resp.text[:300]}"
        if 400 <= status < 500 and case.method.upper() != "HEAD":
            if "json" not in ",".join(resp.headers.get("content-type", [])):
                return f"{status} without a JSON body: {resp.text[:300]!r}"
            try:
                body = resp.json()
            except ValueError:
                return f"{status} with a body that is not JSON: {resp.text[:300]!r}"
            if not self.error_shape(status, body):
                return f"{status} without an OpenStack error body: {resp.text[:300]}"
        return None


def check_document(doc: dict[str, Any], api: Api) -> None:
    """``doc`` is valid OpenAPI 3.1 and describes every route of ``api``: its path
    parameters, its body's JSON schema, the query parameters it declares."""
    schemathesis.openapi.from_dict(doc).validate()
    described = {(method.upper(), path): op for path, ops in doc["paths"].items()
                 for method, op in ops.items()}
    routes = {(ep.method, re.sub(r"\{(\w+):\w+\}", r"{\1}", ep.path)): ep
              for ep in api.endpoints}
    assert sorted(described) == sorted(routes)
    for key, op in described.items():
        ep = routes[key]
        params = {(p["in"], p["name"]) for p in op.get("parameters", [])}
        assert params == {("path", name) for name in re.findall(r"\{(\w+)\}", key[1])} | {
            ("query", name) for name in ep.query}, key
        for param in op.get("parameters", []):
            jsonschema.Draft202012Validator.check_schema(param["schema"])
        if ep.schema is not None:
            body = op["requestBody"]["content"][ep.media_type]["schema"]
            assert body == ep.schema, key
            jsonschema.Draft202012Validator.check_schema(body)
        assert ("requestBody" in op) == (ep.schema is not None or ep.stream), key


def fuzz(fuzz: Fuzz, doc: dict[str, Any]) -> None:
    """Run and fail with every operation that answered 5xx, hung or broke the error format."""
    started = time.monotonic()
    failures = fuzz.run(doc)
    took = time.monotonic() - started
    print(f"fuzzed in {took:.0f} s; answers by status: {sorted(fuzz.statuses.items())}")
    assert not failures, f"{len(failures)} operations failed ({took:.0f} s):\n" + \
        "\n".join(failures)
