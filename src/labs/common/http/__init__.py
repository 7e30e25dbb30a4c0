"""HTTP glue shared by every Labs API: routing (``Api``, ``Call``, ``Reply``), error
bodies per service, microversions, paging, query parameters, request bodies and ids.

Each concept lives in its own module; the names callers use are re-exported here.
"""

from labs.common.http.body import MAX_DEPTH, check_storable, read_json, validate
from labs.common.http.call import Call, ClientGone, Reply, Streamed
from labs.common.http.errors import (
    ErrorRenderer,
    glance_error,
    is_contention,
    keystone_error,
    nova_error,
)
from labs.common.http.microversions import Microversions, Version
from labs.common.http.paging import PAGING, WINDOW, next_page_query, read_limit
from labs.common.http.query import NO, YES, query_strings, yes_no
from labs.common.http.request_ids import RequestIdMiddleware, request_id_of
from labs.common.http.routing import DEFAULT_MAX_BODY, Api, Endpoint, Handler

__all__ = [
    "DEFAULT_MAX_BODY", "MAX_DEPTH", "NO", "PAGING", "WINDOW", "YES", "Api", "Call",
    "ClientGone", "Endpoint", "ErrorRenderer", "Handler", "Microversions", "Reply",
    "RequestIdMiddleware", "Streamed", "Version", "check_storable", "glance_error",
    "is_contention", "keystone_error", "next_page_query", "nova_error", "query_strings",
    "read_json", "read_limit", "request_id_of", "validate", "yes_no",
]
