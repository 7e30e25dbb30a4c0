"""Error bodies as each OpenStack service writes them, and which database errors mean
"try again"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DBAPIError

from labs.common.errors import LabsError

ErrorRenderer = Callable[[LabsError], dict[str, Any]]


def keystone_error(err: LabsError) -> dict[str, Any]:
    """``{"error": {"code", "title", "message"}}``, as identity and image answer."""
    return {"error": {"code": err.code, "title": err.title, "message": err.message}}


def glance_error(err: LabsError) -> dict[str, Any]:
    """``{"code": "404 Not Found", "title", "message"}``, as the image service answers."""
    return {"code": f"{err.code} {err.title}", "title": err.title, "message": err.message}


def nova_error(err: LabsError) -> dict[str, Any]:
    """``{"itemNotFound": {"code", "message"}}``, as compute answers."""
    return {err.nova_key: {"code": err.code, "message": err.message}}


#: MariaDB's "deadlock found" and "lock wait timeout exceeded".
CONTENTION_ERRORS = frozenset({1205, 1213})


def is_contention(exc: DBAPIError) -> bool:
    """A transaction lost to others (and was rolled back whole): safe to try again."""
    code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    return code in CONTENTION_ERRORS or "database is locked" in str(exc.orig)

