"""``POST /servers/{id}/action`` as a table: the body's one key names the action, and its
row says which policy rule guards it, how its value is checked and what handles it.
Adding an action is adding a row (see server_actions.ACTIONS).

As Nova: a key no row names answers 400 "There is no such action"; an action Nova reads
no body of (``os-stop``, ``pause``, ...) takes any value, ``null`` and ``{}`` alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from labs.common.context import RequestContext
from labs.common.errors import BadRequest
from labs.common.http import Call, Reply

#: ``handler(call, ctx, server_id, value)``: a Reply for a body, None for a bare 202.
Handler = Callable[[Call, RequestContext, str, Any], Reply | None]


@dataclass(frozen=True)
class Action:
    handler: Handler
    #: The JSON schema of the action's value ({}: any value, as Nova reads none).
    schema: dict[str, Any] = field(default_factory=dict)
    policy: str = "compute:servers:action"


def body_schema(table: Mapping[str, Action]) -> dict[str, Any]:
    """The schema of the whole body (for the route and the OpenAPI document): each known
    action's value checked by its row; unknown keys are left to `dispatch`."""
    return {"type": "object", "minProperties": 1,
            "properties": {name: action.schema for name, action in table.items()}}


def dispatch(table: Mapping[str, Action], call: Call, server_id: str) -> Reply | None:
    if len(call.body) != 1:
        raise BadRequest("Malformed request body: too many body keys")
    (name, value), = call.body.items()
    action = table.get(name)
    if action is None:
        raise BadRequest(f"There is no such action: {name}")
    ctx = call.enforce(action.policy)
    return action.handler(call, ctx, server_id, value)
