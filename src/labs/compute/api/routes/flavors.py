"""Flavors, their extra specs and who may use the private ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labs.common.errors import BadRequest, NotFound
from labs.common.http import PAGING, Api, Call, Reply, query_strings, yes_no
from labs.common.numbers import is_digits
from labs.compute import models
from labs.compute.api import schemas
from labs.compute.api.flavors import FlavorFilter
from labs.compute.api.routes import views
from labs.compute.api.service import ComputeService

#: Nova's sort keys -> how Labs reads them off a flavor.
SORT_KEYS: dict[str, Callable[[models.Flavor], Any]] = {
    "flavorid": lambda f: f.id, "id": lambda f: f.created_at, "name": lambda f: f.name,
    "memory_mb": lambda f: f.ram, "vcpus": lambda f: f.vcpus, "root_gb": lambda f: f.disk,
    "ephemeral_gb": lambda f: f.ephemeral, "swap": lambda f: f.swap,
    "rxtx_factor": lambda f: f.rxtx_factor, "is_public": lambda f: f.is_public,
    "disabled": lambda f: f.disabled, "description": lambda f: f.description or "",
    "created_at": lambda f: f.created_at, "updated_at": lambda f: f.created_at,
    "vcpu_weight": lambda f: 0,
}
TRUE, FALSE = ("1", "t", "true", "on", "y", "yes"), ("0", "f", "false", "off", "n", "no")

#: The query parameters of the flavor lists.
FLAVOR_FILTERS = {**PAGING, **query_strings("is_public", "minRam", "minDisk", "min_ram",
                                            "min_disk", "sort_key", "sort_dir")}


def flavor_filter(call: Call) -> FlavorFilter:
    """``is_public`` ("None" is every flavor, for admins), ``minRam``, ``minDisk``."""
    raw = call.query.get("is_public")
    is_public: bool | None = True
    if raw is not None and raw.lower() == "none":
        is_public = None
    elif raw is not None:
        is_public = yes_no(raw, yes=TRUE, no=FALSE, strip=True,
                           invalid=lambda: BadRequest(f"Invalid is_public filter [{raw}]"))
    minimums: dict[str, int | None] = {}
    for name, alias in (("minRam", "min_ram"), ("minDisk", "min_disk")):
        value = call.query.get(name, call.query.get(alias))
        if value is None:
            minimums[alias] = None
            continue
        number = value.strip().removeprefix("-")
        if not is_digits(number) or int(number) > views.MAX_QUERY_INT:
            raise BadRequest(f"Invalid {name} filter [{value}]")
        minimums[alias] = int(value)
    return FlavorFilter(is_public=is_public, **minimums)


def page(call: Call, rows: list[models.Flavor], max_limit: int) -> list[models.Flavor]:
    """Nova's ``sort_key``/``sort_dir`` (default: by flavor id), ``marker``, ``limit``."""
    key, direction = call.query.get("sort_key", "flavorid"), call.query.get("sort_dir", "asc")
    if key not in SORT_KEYS or direction not in ("asc", "desc"):
        raise BadRequest(f"Invalid sort: sort_key must be one of {', '.join(SORT_KEYS)} "
                         "and sort_dir asc or desc.")
    if key != "flavorid":  # the service already orders by flavor id
        rows = sorted(rows, key=lambda f: (SORT_KEYS[key](f), f.id))
    if direction == "desc":
        rows = rows[::-1]
    marker = call.query.get("marker")
    if marker is not None:
        ids = [f.id for f in rows]
        if marker not in ids:
            raise BadRequest(f"marker [{marker}] not found")
        rows = rows[ids.index(marker) + 1:]
    return rows[:views.page_limit(call, max_limit)]


def flavor_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The create body with numbers out of their strings and the flag as a bool."""
    fields = dict(body)
    for name, low in (("ram", 1), ("vcpus", 1), ("disk", 0),
                      ("OS-FLV-EXT-DATA:ephemeral", 0), ("swap", 0)):
        if name in fields:
            fields[name] = schemas.integer(name, fields[name], low)
    if "rxtx_factor" in fields:
        fields["rxtx_factor"] = float(fields["rxtx_factor"])
    if "os-flavor-access:is_public" in fields:
        fields["os-flavor-access:is_public"] = schemas.boolean(
            fields["os-flavor-access:is_public"])
    if fields.get("id") is not None:
        fields["id"] = str(fields["id"])
    return fields


def register(api: Api, service: ComputeService) -> None:
    flavors = service.flavors
    max_limit = service.options.max_list_limit

    def listed(call: Call) -> list[models.Flavor]:
        ctx = call.enforce("compute:flavors:read")
        return page(call, flavors.list_flavors(ctx, flavor_filter(call)), max_limit)

    def paged(call: Call, collection: str, rows: list[models.Flavor],
              items: list[dict[str, Any]]) -> dict[str, Any]:
        body: dict[str, Any] = {"flavors": items}
        more = views.next_links(call, collection, len(rows), rows[-1].id if rows else None,
                                max_limit)
        if more:
            body["flavors_links"] = more
        return body

    @api.get("/v2.1/flavors", query=FLAVOR_FILTERS)
    def list_flavors(call: Call) -> dict[str, Any]:
        """Flavors: id, name and links."""
        rows = listed(call)
        return paged(call, "flavors", rows, [views.flavor_brief(call, r) for r in rows])

    @api.get("/v2.1/flavors/detail", query=FLAVOR_FILTERS)
    def list_flavors_detail(call: Call) -> dict[str, Any]:
        """Flavors in full."""
        rows = listed(call)
        return paged(call, "flavors/detail", rows, [views.flavor(call, r) for r in rows])

    @api.get("/v2.1/flavors/{flavor_id}")
    def show_flavor(call: Call) -> dict[str, Any]:
        """One flavor."""
        ctx = call.enforce("compute:flavors:read")
        return {"flavor": views.flavor(call, flavors.get(ctx, call.params["flavor_id"]))}

    @api.post("/v2.1/flavors", schema=schemas.OBJECT)
    def create_flavor(call: Call) -> dict[str, Any]:
        """Create a flavor (admin)."""
        call.enforce("compute:flavors:manage")
        body = schemas.check(call.body, schemas.FLAVOR_CREATE, call.version)["flavor"]
        return {"flavor": views.flavor(call, flavors.create(flavor_fields(body)))}

    @api.put("/v2.1/flavors/{flavor_id}", schema=schemas.FLAVOR_UPDATE)
    def update_flavor(call: Call) -> dict[str, Any]:
        """Change a flavor's description (2.55; admin)."""
        if not call.at_least(2, 55):  # as Nova: the method is not there before
            raise NotFound("Updating a flavor needs microversion 2.55 or later.")
        call.enforce("compute:flavors:manage")
        row = flavors.update_description(call.params["flavor_id"],
                                         call.body["flavor"]["description"])
        return {"flavor": views.flavor(call, row)}

    @api.delete("/v2.1/flavors/{flavor_id}")
    def delete_flavor(call: Call) -> Reply:
        """Delete a flavor (admin); servers keep their copy of it."""
        call.enforce("compute:flavors:manage")
        flavors.delete(call.params["flavor_id"])
        return Reply(status=202)

    # -- extra specs ---------------------------------------------------------------
    @api.get("/v2.1/flavors/{flavor_id}/os-extra_specs")
    def list_extra_specs(call: Call) -> dict[str, Any]:
        """A flavor's extra specs."""
        ctx = call.enforce("compute:flavors:read")
        return {"extra_specs": dict(flavors.get(ctx, call.params["flavor_id"]).extra_specs
                                    or {})}

    @api.post("/v2.1/flavors/{flavor_id}/os-extra_specs", schema=schemas.EXTRA_SPECS_CREATE)
    def set_extra_specs(call: Call) -> dict[str, Any]:
        """Add or change extra specs (admin)."""
        call.enforce("compute:flavors:manage")
        specs = call.body["extra_specs"]
        flavors.set_extra_specs(call.params["flavor_id"], {k: str(v) for k, v in specs.items()})
        return {"extra_specs": specs}

    @api.get("/v2.1/flavors/{flavor_id}/os-extra_specs/{key}")
    def show_extra_spec(call: Call) -> dict[str, Any]:
        """One extra spec."""
        ctx = call.enforce("compute:flavors:read")
        flavor_id, key = call.params["flavor_id"], call.params["key"]
        specs = flavors.get(ctx, flavor_id).extra_specs or {}
        if key not in specs:
            raise NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
        return {key: specs[key]}

    @api.put("/v2.1/flavors/{flavor_id}/os-extra_specs/{key}",
             schema=schemas.EXTRA_SPEC_UPDATE)
    def update_extra_spec(call: Call) -> dict[str, Any]:
        """Change one extra spec (admin); the body is ``{key: value}``."""
        call.enforce("compute:flavors:manage")
        key = call.params["key"]
        if key not in call.body:
            raise BadRequest("Request body and URI mismatch")
        flavors.set_extra_specs(call.params["flavor_id"], {key: str(call.body[key])})
        return dict(call.body)

    @api.delete("/v2.1/flavors/{flavor_id}/os-extra_specs/{key}")
    def delete_extra_spec(call: Call) -> Reply:
        """Remove one extra spec (admin); 200 with no body, as Nova."""
        call.enforce("compute:flavors:manage")
        flavors.unset_extra_spec(call.params["flavor_id"], call.params["key"])
        return Reply(status=200)

    # -- access to private flavors -------------------------------------------------
    @api.get("/v2.1/flavors/{flavor_id}/os-flavor-access")
    def list_flavor_access(call: Call) -> dict[str, Any]:
        """The projects that may use a private flavor (admin)."""
        call.enforce("compute:flavors:manage")
        flavor_id = call.params["flavor_id"]
        return views.flavor_access(flavor_id, flavors.access(flavor_id))

    @api.post("/v2.1/flavors/{flavor_id}/action", schema=schemas.FLAVOR_ACTION)
    def flavor_action(call: Call) -> dict[str, Any]:
        """``addTenantAccess`` / ``removeTenantAccess`` (admin)."""
        call.enforce("compute:flavors:manage")
        flavor_id = call.params["flavor_id"]
        if "addTenantAccess" in call.body:
            projects = flavors.add_access(flavor_id, call.body["addTenantAccess"]["tenant"])
        else:
            projects = flavors.remove_access(flavor_id,
                                             call.body["removeTenantAccess"]["tenant"])
        return views.flavor_access(flavor_id, projects)
