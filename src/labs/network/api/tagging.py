"""Tags (Neutron's ``standard-attr-tag``): ``/v2.0/{collection}/{id}/tags`` (all of a
resource's tags: shown, replaced, removed) and ``.../tags/{tag}`` (one: whether it is
there, added, removed) for every collection in `FINDERS`, and each item's ``tags``.

Whoever sees a resource sees its tags; whoever may change it may tag it (404 for a
resource the caller does not see, 403 for one it sees but may not change). A change
honours ``If-Match: revision_number=N`` and raises the resource's revision.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labs.common.errors import Forbidden
from labs.common.http import Api, Call, Reply
from labs.network.api.base import allowed, expected_revision
from labs.network.api.listing import Item
from labs.network.errors import FloatingIPNotFound, NetworkNotFound, SubnetNotFound
from labs.network.floating_ips import floating_id_of
from labs.network.service import NetworkService
from labs.network.tags import MAX_TAG_LEN, MAX_TAGS, TagNotFound, Target, check_tag, check_tags
from labs.network.topology import NetworkRecord

#: (call, whether to change it) -> the resource the path names (by `id_param`).
Finder = Callable[[Call, bool], Target]
_TAG = {"type": "string", "minLength": 1, "maxLength": MAX_TAG_LEN, "pattern": "^[^,]*$"}
REPLACE = {"type": "object", "required": ["tags"], "additionalProperties": False,
           "properties": {"tags": {"type": "array", "maxItems": MAX_TAGS, "items": _TAG}}}


def id_param(kind: str) -> str:
    """The path parameter naming a resource of `kind`: ``security-groups`` ->
    ``security_group_id``."""
    return kind.removesuffix("s").replace("-", "_") + "_id"


def tagged(network: NetworkService, kind: str, items: list[Item]) -> list[Item]:
    """The items (of collection `kind`) with their ``tags``."""
    found = network.tags.of(kind, [item["id"] for item in items]) if items else {}
    for item in items:
        item["tags"] = found.get(item["id"], [])
    return items


def _owned(call: Call, found: NetworkRecord, rule: str) -> None:
    """403 unless the caller may change `found` (its own, not the external one)."""
    ctx = call.enforce(rule)
    if found.external or (found.project_id != ctx.project_id
                          and not allowed(call, "network:all_projects")):
        raise Forbidden(f"(rule:{rule.split(':')[1]}) is disallowed by policy")


def _networks(network: NetworkService, call: Call, rule: str) -> list[NetworkRecord]:
    ctx = call.enforce(rule)
    return network.topology.networks(ctx.project_id,
                                     every_project=allowed(call, "network:all_projects"))


def finders(network: NetworkService) -> dict[str, Finder]:
    """How each taggable collection finds the resource a path names."""
    def find_network(call: Call, change: bool) -> Target:
        ident = call.params[id_param("networks")]
        found = next((r for r in _networks(network, call, "network:get_network")
                      if r.id == ident), None)
        if found is None:
            raise NetworkNotFound(ident)
        if change:
            _owned(call, found, "network:update_network")
        return Target("networks", found.id, found.id)

    def find_subnet(call: Call, change: bool) -> Target:
        ident = call.params[id_param("subnets")]
        found = next((r for r in _networks(network, call, "network:get_subnet")
                      if any(s.id == ident for s in r.subnets)), None)
        if found is None:
            raise SubnetNotFound(ident)
        if change:
            _owned(call, found, "network:update_subnet")
        return Target("subnets", ident, ident)

    def find_floatingip(call: Call, change: bool) -> Target:
        ident = call.params[id_param("floatingips")]
        ctx = call.enforce("network:update_floatingip" if change
                           else "network:get_floatingip")
        for record in network.floating_ips.list_allocated(
                ctx.project_id, every_project=allowed(call, "network:all_projects")):
            if floating_id_of(record.id) == ident:
                return Target("floatingips", ident, record.id)
        raise FloatingIPNotFound(ident)

    def find_security_group(call: Call, change: bool) -> Target:
        ident = call.params[id_param("security-groups")]
        ctx = call.enforce("network:get_security_group")
        group = network.security_groups.get(ctx, ident)
        if change:
            call.enforce("network:update_security_group")
        return Target("security-groups", group.id, group.id)

    return {"networks": find_network, "subnets": find_subnet,
            "floatingips": find_floatingip, "security-groups": find_security_group}


def register(api: Api, network: NetworkService,
             found: dict[str, Finder] | None = None) -> None:
    """The tag routes of each collection of `found` (default: `finders`)."""
    for kind, find in (found if found is not None else finders(network)).items():
        _register_kind(api, network, kind, find)


def _register_kind(api: Api, network: NetworkService, kind: str, find: Finder) -> None:
    base = f"/v2.0/{kind}/{{{id_param(kind)}}}/tags"
    name = kind.replace("-", "_")

    def change(call: Call, edit: Callable[[list[str]], list[str]]) -> list[str]:
        expected = expected_revision(call)
        return network.tags.change(find(call, True), expected, edit)

    def one_tag(call: Call) -> str:
        return check_tag(call.params["tag"])

    def show_tags(call: Call) -> dict[str, Any]:
        target = find(call, False)
        return {"tags": network.tags.of(kind, [target.resource_id]).get(
            target.resource_id, [])}

    def replace_tags(call: Call) -> dict[str, Any]:
        wanted = check_tags(call.body["tags"])
        return {"tags": change(call, lambda _current: wanted)}

    def delete_tags(call: Call) -> None:
        change(call, lambda _current: [])

    def check_one(call: Call) -> None:
        tag = one_tag(call)
        target = find(call, False)
        if tag not in network.tags.of(kind, [target.resource_id]).get(
                target.resource_id, []):
            raise TagNotFound(tag, kind, target.resource_id)

    def add_one(call: Call) -> Reply:
        tag = one_tag(call)
        change(call, lambda current: [*current, tag])
        return Reply(status=201)

    def delete_one(call: Call) -> None:
        tag = one_tag(call)

        def without(current: list[str]) -> list[str]:
            if tag not in current:
                raise TagNotFound(tag, kind, call.params[id_param(kind)])
            return [t for t in current if t != tag]
        change(call, without)

    routes: list[tuple[str, str, Callable[..., Any], dict[str, Any]]] = [
        ("get", base, show_tags, {}), ("put", base, replace_tags, {"schema": REPLACE}),
        ("delete", base, delete_tags, {}), ("get", f"{base}/{{tag}}", check_one,
                                            {"status": 204}),
        ("put", f"{base}/{{tag}}", add_one, {"status": 201}),
        ("delete", f"{base}/{{tag}}", delete_one, {})]
    for method, path, handler, options in routes:
        handler.__doc__ = _DOCS[handler.__name__]
        handler.__name__ = f"{handler.__name__}_of_{name}"
        api.route(method.upper(), path, status=options.get(
            "status", 204 if method == "delete" else 200), schema=options.get("schema"))(
            handler)


_DOCS = {"show_tags": "A resource's tags.", "replace_tags": "Replace a resource's tags.",
         "delete_tags": "Remove every tag of a resource.",
         "check_one": "Whether a resource has a tag (204, else 404).",
         "add_one": "Add a tag to a resource.", "delete_one": "Remove a tag of a resource."}
