"""Endpoint groups (Keystone's OS-EP-FILTER) and policy blobs (``/v3/policies``).

An endpoint group names endpoints by ``filters`` over ``service_id``, ``region_id`` and
``interface``, and may be associated with projects. A policy is an opaque blob with a
media type that Keystone stores for clients (deprecated upstream, kept for them).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from labs.common.db import apply_changes, matching
from labs.common.errors import BadRequest, NotFound
from labs.identity import models
from labs.identity.resources import get_row, new_id
from labs.identity.store import IdentityStore

FILTER_KEYS = ("service_id", "region_id", "interface")
Group, Link = models.EndpointGroup, models.ProjectEndpointGroup


def _check_filters(filters: dict[str, Any]) -> None:
    if not filters or any(key not in FILTER_KEYS for key in filters):
        raise BadRequest("Expecting to find service_id or region_id or interface in "
                         "endpoint_group. The server could not comply with the request "
                         "since it is either malformed or otherwise incorrect. The client "
                         "is assumed to be in error.")


class EndpointGroupService:
    def __init__(self, store: IdentityStore) -> None:
        self.store = store

    # -- endpoint groups -----------------------------------------------------
    def create(self, fields: dict[str, Any]) -> models.EndpointGroup:
        _check_filters(fields["filters"])
        row = Group(id=new_id(), name=fields["name"], description=fields.get("description"),
                    filters=dict(fields["filters"]))
        with self.store.write() as tx:
            tx.add(row)
        return row

    def get(self, group_id: str) -> models.EndpointGroup:
        with self.store.read() as tx:
            row: models.EndpointGroup = get_row(tx, Group, group_id, "endpoint group")
            return row

    def find(self, name: str | None = None) -> list[models.EndpointGroup]:
        with self.store.read() as tx:
            return list(tx.scalars(matching(sa.select(Group).order_by(Group.name, Group.id),
                                            name=name)))

    def update(self, group_id: str, changes: dict[str, Any]) -> models.EndpointGroup:
        if "filters" in changes:
            _check_filters(changes["filters"])
        with self.store.write() as tx:
            row: models.EndpointGroup = get_row(tx, Group, group_id, "endpoint group")
            apply_changes(row, changes, ("name", "description", "filters"))
            return row

    def delete(self, group_id: str) -> None:
        with self.store.write() as tx:
            row = get_row(tx, Group, group_id, "endpoint group")
            tx.execute(sa.delete(Link).where(Link.endpoint_group_id == group_id))
            tx.delete(row)

    def endpoints(self, group_id: str) -> list[models.Endpoint]:
        """The endpoints the group's filters match."""
        with self.store.read() as tx:
            group: models.EndpointGroup = get_row(tx, Group, group_id, "endpoint group")
            query = matching(sa.select(models.Endpoint).order_by(models.Endpoint.id),
                             **{k: group.filters.get(k) for k in FILTER_KEYS})
            return list(tx.scalars(query))

    # -- project associations ------------------------------------------------
    def associate(self, group_id: str, project_id: str) -> None:
        with self.store.write() as tx:
            get_row(tx, Group, group_id, "endpoint group")
            get_row(tx, models.Project, project_id, "project")
            if tx.get(Link, (group_id, project_id)) is None:
                tx.add(Link(endpoint_group_id=group_id, project_id=project_id))

    def check(self, group_id: str, project_id: str) -> None:
        with self.store.read() as tx:
            get_row(tx, Group, group_id, "endpoint group")
            get_row(tx, models.Project, project_id, "project")
            if tx.get(Link, (group_id, project_id)) is None:
                raise NotFound(f"Could not find endpoint group {group_id} in project "
                               f"{project_id}.")

    def dissociate(self, group_id: str, project_id: str) -> None:
        self.check(group_id, project_id)
        with self.store.write() as tx:
            tx.execute(sa.delete(Link).where(Link.endpoint_group_id == group_id,
                                             Link.project_id == project_id))

    def projects(self, group_id: str) -> list[models.Project]:
        with self.store.read() as tx:
            get_row(tx, Group, group_id, "endpoint group")
            return list(tx.scalars(
                sa.select(models.Project).join(Link, Link.project_id == models.Project.id)
                .where(Link.endpoint_group_id == group_id).order_by(models.Project.name)))

    def of_project(self, project_id: str) -> list[models.EndpointGroup]:
        with self.store.read() as tx:
            get_row(tx, models.Project, project_id, "project")
            return list(tx.scalars(
                sa.select(Group).join(Link, Link.endpoint_group_id == Group.id)
                .where(Link.project_id == project_id).order_by(Group.name)))


class PolicyBlobService:
    def __init__(self, store: IdentityStore) -> None:
        self.store = store

    def create(self, fields: dict[str, Any]) -> models.PolicyBlob:
        extra = {k: v for k, v in fields.items() if k not in ("id", "type", "blob")}
        row = models.PolicyBlob(id=new_id(), type=fields["type"], blob=fields["blob"],
                                extra=extra)
        with self.store.write() as tx:
            tx.add(row)
        return row

    def get(self, policy_id: str) -> models.PolicyBlob:
        with self.store.read() as tx:
            row: models.PolicyBlob = get_row(tx, models.PolicyBlob, policy_id, "policy")
            return row

    def find(self, type_: str | None = None) -> list[models.PolicyBlob]:
        with self.store.read() as tx:
            return list(tx.scalars(matching(sa.select(models.PolicyBlob)
                                            .order_by(models.PolicyBlob.id), type=type_)))

    def update(self, policy_id: str, changes: dict[str, Any]) -> models.PolicyBlob:
        with self.store.write() as tx:
            row: models.PolicyBlob = get_row(tx, models.PolicyBlob, policy_id, "policy")
            apply_changes(row, changes, ("type", "blob"))
            extra = {k: v for k, v in changes.items() if k not in ("id", "type", "blob")}
            if extra:
                row.extra = {**row.extra, **extra}
            return row

    def delete(self, policy_id: str) -> None:
        with self.store.write() as tx:
            tx.delete(get_row(tx, models.PolicyBlob, policy_id, "policy"))
