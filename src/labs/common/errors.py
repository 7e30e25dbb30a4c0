"""Errors that carry their HTTP meaning.

A service raises these; the HTTP layer renders them in the service's own
OpenStack error format (identity: ``{"error": {...}}``, compute:
``{"itemNotFound": {...}}``). Anything else that escapes is a 500 and a bug.
"""

from __future__ import annotations


class LabsError(Exception):
    code = 500
    title = "Internal Server Error"
    # The key compute-style bodies use: {"itemNotFound": {"code": 404, ...}}.
    nova_key = "computeFault"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(LabsError):
    code = 400
    title = "Bad Request"
    nova_key = "badRequest"


class ValidationError(BadRequest):
    """The request body or a parameter does not match what the API accepts."""


class Unauthorized(LabsError):
    code = 401
    title = "Unauthorized"
    nova_key = "unauthorized"


class Forbidden(LabsError):
    code = 403
    title = "Forbidden"
    nova_key = "forbidden"


class NotFound(LabsError):
    code = 404
    title = "Not Found"
    nova_key = "itemNotFound"


class MethodNotAllowed(LabsError):
    code = 405
    title = "Method Not Allowed"
    nova_key = "badMethod"


class NotAcceptable(LabsError):
    code = 406
    title = "Not Acceptable"
    nova_key = "computeFault"  # Nova has no name of its own for 406


class Conflict(LabsError):
    code = 409
    title = "Conflict"
    nova_key = "conflictingRequest"


class PayloadTooLarge(LabsError):
    code = 413
    title = "Request Entity Too Large"
    nova_key = "overLimit"


class UnsupportedMediaType(LabsError):
    code = 415
    title = "Unsupported Media Type"
    nova_key = "badMediaType"


class ServiceUnavailable(LabsError):
    code = 503
    title = "Service Unavailable"
    nova_key = "serviceUnavailable"
