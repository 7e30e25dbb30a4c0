"""Tags on the network's resources (Neutron's ``standard-attr-tag``): any number of
short strings a project puts on its networks, subnets, floating IPs and security groups
(and whatever else registers in `REVISIONED`), to find them by (``?tags=``).

A tag change is a change of its resource: it raises the resource's revision (and may be
constrained to one, `revisions.check`) in the same transaction. Tags go with their
resource: every delete of a tagged resource calls `drop` in its own transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.common.errors import NotFound
from labs.network import models, revisions
from labs.network.errors import InvalidInput

Tag = models.ResourceTag
MAX_TAG_LEN = 255
#: Labs bounds a resource's tags (Neutron sets no number).
MAX_TAGS = 50
#: Each collection's rows (their primary key: `Target.row_key`), which carry the
#: revision a tag change raises; a collection without one has no revision to raise.
REVISIONED: dict[str, type[Any]] = {
    "networks": models.Network, "subnets": models.Subnet,
    "security-groups": models.SecurityGroup, "floatingips": models.FloatingIp}


class TagNotFound(NotFound):
    neutron_type = "TagNotFound"

    def __init__(self, tag: str, kind: str, resource_id: str) -> None:
        super().__init__(f"Tag {tag} could not be found for {kind.removesuffix('s')} "
                         f"{resource_id}.")


@dataclass(frozen=True)
class Target:
    """A tagged resource: its collection, its API id and its row's primary key."""

    kind: str
    resource_id: str
    row_key: Any


def check_tag(tag: object) -> str:
    """A valid tag (a 400 otherwise): text of 1 to 255 characters, no comma (a comma
    separates tags in filters)."""
    if not isinstance(tag, str):
        raise InvalidInput(f"'{tag}' is not a valid string")
    if not tag or len(tag) > MAX_TAG_LEN:
        raise InvalidInput(f"'{tag[:MAX_TAG_LEN]}' is not a valid tag: 1 to {MAX_TAG_LEN} "
                           "characters")
    if "," in tag:
        raise InvalidInput(f"'{tag}' is not a valid tag: it contains a comma")
    return tag


def check_tags(tags: object) -> list[str]:
    """A valid list of tags (no duplicates, at most `MAX_TAGS`)."""
    if not isinstance(tags, list):
        raise InvalidInput(f"'{tags}' is not a list")
    checked = [check_tag(t) for t in tags]
    if len(set(checked)) != len(checked):
        raise InvalidInput(f"Duplicate items in the list: '{tags}'")
    if len(checked) > MAX_TAGS:
        raise InvalidInput(f"a resource has at most {MAX_TAGS} tags")
    return checked


def drop(tx: Session, kind: str, resource_ids: Iterable[str]) -> None:
    """Delete the tags of resources deleted in `tx`."""
    ids = list(resource_ids)
    if ids:
        tx.execute(sa.delete(Tag).where(Tag.resource_type == kind,
                                        Tag.resource_id.in_(ids)))


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Tags:
    def __init__(self, db: Database) -> None:
        self.db = db

    def of(self, kind: str, resource_ids: Iterable[str] | None = None
           ) -> dict[str, list[str]]:
        """The tags (sorted) of each tagged resource of `kind` (of `resource_ids` only,
        if given)."""
        query = sa.select(Tag.resource_id, Tag.tag).where(Tag.resource_type == kind)
        if resource_ids is not None:
            query = query.where(Tag.resource_id.in_(list(resource_ids)))
        found: dict[str, list[str]] = {}
        with self.db.reading() as tx:
            for resource_id, tag in tx.execute(query.order_by(Tag.tag)):
                found.setdefault(resource_id, []).append(tag)
        return found

    def change(self, target: Target, expected: int | None,
               edit: Callable[[list[str]], list[str]]) -> list[str]:
        """Replace the resource's tags by ``edit(current)`` (sorted) and raise its
        revision if they changed, at revision `expected` only (None: any)."""
        with self.db.transaction() as tx:
            model = REVISIONED.get(target.kind)
            row = tx.get(model, target.row_key, with_for_update=True) if model else None
            if model is not None and row is None:
                raise NotFound(f"{target.kind} {target.resource_id} could not be found.")
            revisions.check(row, expected)
            where = (Tag.resource_type == target.kind,
                     Tag.resource_id == target.resource_id)
            current = sorted(tx.scalars(sa.select(Tag.tag).where(*where)))
            wanted = sorted(set(edit(current)))
            if len(wanted) > MAX_TAGS:
                raise InvalidInput(f"a resource has at most {MAX_TAGS} tags")
            if wanted != current:
                tx.execute(sa.delete(Tag).where(*where, Tag.tag.not_in(wanted)))
                for tag in sorted(set(wanted) - set(current)):
                    tx.add(Tag(resource_type=target.kind, resource_id=target.resource_id,
                               tag=tag))
                if row is not None:
                    row.revision_number += 1
                    row.updated_at = _now()
            return wanted
