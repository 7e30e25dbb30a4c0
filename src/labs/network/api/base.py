"""Neutron's error body, ``{"NeutronError": {"type", "message", "detail"}}``, for every
error of the network API."""

from __future__ import annotations

from typing import Any

from labs.common.errors import BadRequest, LabsError
from labs.common.http import Api, Call

#: The ``type`` of an error that names none of its own (webob's names, as Neutron's are).
TYPES = {400: "HTTPBadRequest", 401: "HTTPUnauthorized", 403: "PolicyNotAuthorized",
         404: "HTTPNotFound", 405: "HTTPMethodNotAllowed", 406: "HTTPNotAcceptable",
         409: "HTTPConflict", 412: "HTTPPreconditionFailed", 413: "HTTPRequestEntityTooLarge",
         415: "HTTPUnsupportedMediaType", 503: "HTTPServiceUnavailable"}


def neutron_error(err: LabsError) -> dict[str, Any]:
    kind = getattr(err, "neutron_type", None) or TYPES.get(err.code, "HTTPInternalServerError")
    return {"NeutronError": {"type": kind, "message": err.message, "detail": ""}}


class NeutronApi(Api):
    """An `Api` answering errors as Neutron does."""

    def __init__(self, name: str) -> None:
        super().__init__(name, render_error=neutron_error)


def allowed(call: Call, rule: str) -> bool:
    """Whether the caller passes ``rule`` (for what widens a list, not a 403)."""
    if call.api.policy is None:
        raise RuntimeError("API has no policy")
    return call.api.policy.allowed(rule, call.context)


def expected_revision(call: Call) -> int | None:
    """The revision an ``If-Match: revision_number=N`` header constrains a change to
    (None without one); other entity tags are not Neutron's and are ignored."""
    found = None
    for etag in call.headers.get("if-match", "").split(","):
        etag = etag.strip().removeprefix("W/").strip('"')
        if not etag.startswith("revision_number="):
            continue
        if found is not None:
            raise BadRequest("Multiple revision_number etags are not supported.")
        digits = etag.removeprefix("revision_number=")
        if not (digits.isascii() and digits.isdigit() and len(digits) <= 18):
            raise BadRequest("Revision number etag must be in the format of "
                             "revision_number=<int>")
        found = int(digits)
    return found
