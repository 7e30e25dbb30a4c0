"""Zone transfers between projects (Designate's ``transfer_requests`` and
``transfer_accepts``).

The zone's project offers it with a request, to one project (``target_project_id``) or
to any; the request's key is shown to the offering project only and passed on out of
band. Accepting needs the request's id and key (compared in constant time): the zone and
its recordsets move to the accepting project, whose zone quota and naming rules are
checked as for a new zone. The request row is locked while it is accepted, so of two
accepts of one request one wins and the other finds it COMPLETE.
"""

from __future__ import annotations

import hmac
import secrets
import string
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.db import Database
from labs.dns import models
from labs.dns.errors import BadRequest, Forbidden, NotFound
from labs.dns.listing import Listing, Page, page
from labs.dns.quotas import Quotas
from labs.dns.scope import Caller
from labs.dns.zones import Zones, utcnow, writable_zone

Z, RS, R = models.Zone, models.RecordSet, models.Record
REQ, ACC = models.TransferRequest, models.TransferAccept
KEY_ALPHABET = string.ascii_uppercase + string.digits
KEY_LENGTH = 16
REQUEST_FILTERS = ("status",)
REQUEST_SORT_KEYS = ("created_at", "id", "updated_at", "status", "zone_name")
ACCEPT_SORT_KEYS = ("created_at", "id", "updated_at", "status")


class TransferRequestNotFound(NotFound):
    error_type = "zone_transfer_request_not_found"


class TransferAcceptNotFound(NotFound):
    error_type = "zone_transfer_accept_not_found"


class IncorrectKey(Forbidden):
    error_type = "invalid_key"


class DuplicateTransferRequest(BadRequest):
    error_type = "duplicate_zone_transfer_request"


def new_key() -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_LENGTH))


def involved(caller: Caller) -> sa.ColumnElement[bool]:
    """Requests the caller's project made or is offered."""
    if caller.all_projects:
        return sa.true()
    if caller.project_id is None:
        return sa.false()
    return sa.or_(REQ.project_id == caller.project_id,
                  REQ.target_project_id == caller.project_id)


def shows_key(caller: Caller, row: models.TransferRequest) -> bool:
    return caller.all_projects or caller.project_id == row.project_id


class Transfers:
    def __init__(self, db: Database, zones: Zones, quotas: Quotas) -> None:
        self.db = db
        self.zones = zones
        self.quotas = quotas

    # -- requests --------------------------------------------------------------------
    def request(self, caller: Caller, zone_id: str, fields: dict[str, Any]
                ) -> models.TransferRequest:
        with self.db.transaction() as tx:
            zone = writable_zone(tx, caller, zone_id)
            if tx.scalars(sa.select(R.id).where(R.zone_id == zone.id,
                                                R.managed.is_(True))).first():
                raise BadRequest("A zone holding records the cloud keeps for its VMs cannot "
                                 "be transferred")
            if tx.scalars(sa.select(REQ.id).where(REQ.zone_id == zone.id,
                                                  REQ.status == "ACTIVE")).first():
                raise DuplicateTransferRequest("The zone already has an active transfer "
                                               "request")
            target = fields.get("target_project_id")
            if target == zone.project_id:
                raise BadRequest("A zone is transferred to another project")
            row = REQ(id=str(uuid.uuid4()), project_id=zone.project_id, zone_id=zone.id,
                      zone_name=zone.name, target_project_id=target, key=new_key(),
                      description=fields.get("description"), status="ACTIVE",
                      created_at=utcnow(), updated_at=None)
            tx.add(row)
        return row

    def _request(self, tx: Session, caller: Caller, request_id: str, *, owner: bool,
                 lock: bool = False) -> models.TransferRequest:
        where = involved(caller)
        if not owner:  # a request offered to any project is shown to any project
            where = sa.or_(where, REQ.target_project_id.is_(None))
        elif not caller.all_projects:
            where = REQ.project_id == caller.project_id
        query = sa.select(REQ).where(REQ.id == request_id, where)
        row = tx.scalars(query.with_for_update() if lock else query).first()
        if row is None:
            raise TransferRequestNotFound("Could not find ZoneTransferRequest")
        return row

    def get_request(self, caller: Caller, request_id: str) -> models.TransferRequest:
        with self.db.reading() as tx:
            return self._request(tx, caller, request_id, owner=False)

    def find_requests(self, caller: Caller, listing: Listing) -> Page:
        query = sa.select(REQ).where(involved(caller))
        for key, value in listing.filters.items():
            query = query.where(getattr(REQ, key) == value)
        with self.db.reading() as tx:
            return page(tx, query, REQ, listing)

    def update_request(self, caller: Caller, request_id: str, fields: dict[str, Any]
                       ) -> models.TransferRequest:
        with self.db.transaction() as tx:
            row = self._request(tx, caller, request_id, owner=True, lock=True)
            if row.status != "ACTIVE":
                raise BadRequest("Only an ACTIVE transfer request can be changed")
            if fields.get("target_project_id") == row.project_id:
                raise BadRequest("A zone is transferred to another project")
            for key in ("description", "target_project_id"):
                if key in fields:
                    setattr(row, key, fields[key])
            row.updated_at = utcnow()
        return row

    def delete_request(self, caller: Caller, request_id: str) -> None:
        with self.db.transaction() as tx:
            tx.delete(self._request(tx, caller, request_id, owner=True, lock=True))

    # -- accepts ---------------------------------------------------------------------
    def accept(self, caller: Caller, fields: dict[str, Any]) -> models.TransferAccept:
        """Move the zone to the caller's project."""
        project_id = caller.owning_project()
        lock = self.quotas.lock_project(project_id)
        with self.db.transaction() as tx:
            lock(tx)  # zone creates and accepts of the project take turns counting
            row = self._request(tx, caller, fields["zone_transfer_request_id"], owner=False,
                                lock=True)
            if row.project_id == project_id and not caller.all_projects:
                raise BadRequest("A zone is transferred to another project")
            if row.status != "ACTIVE":
                raise BadRequest("The transfer request is not ACTIVE: it was accepted")
            if not hmac.compare_digest(row.key.encode(), str(fields["key"]).encode()):
                raise IncorrectKey("Key does not match stored key for request")
            if row.target_project_id not in (None, project_id):
                raise Forbidden("This transfer request is for another project")
            zone = tx.scalars(sa.select(Z).where(Z.id == row.zone_id).with_for_update()).one()
            if zone.action == "DELETE":
                raise BadRequest("Can not transfer a deleting zone")
            if tx.scalar(sa.select(sa.func.count()).select_from(models.ZoneShare)
                         .where(models.ZoneShare.zone_id == zone.id)):
                # the shares were the owner's to grant: they do not pass to the accepter
                raise BadRequest("A shared zone cannot be transferred: unshare it first.")
            nest_in = self.zones.rules.check(tx, caller, zone.name)
            self.zones.check_ownership(tx, project_id, zone.name, nest_in, moving=True)
            count = tx.scalar(sa.select(sa.func.count()).select_from(Z)
                              .where(Z.project_id == project_id))
            self.quotas.check(tx, project_id, zones=int(count or 0) + 1)
            zone.project_id = project_id
            zone.transferred_at = utcnow()
            tx.execute(sa.update(RS).where(RS.zone_id == zone.id)
                       .values(project_id=project_id))
            self.zones.touch(tx, zone)
            row.status, row.updated_at = "COMPLETE", utcnow()
            accepted = ACC(id=str(uuid.uuid4()), project_id=project_id, zone_id=zone.id,
                           transfer_request_id=row.id, key=row.key, status="COMPLETE",
                           created_at=utcnow(), updated_at=None)
            tx.add(accepted)
        self.zones.publisher.publish(zone.id)
        return accepted

    def get_accept(self, caller: Caller, accept_id: str) -> models.TransferAccept:
        with self.db.reading() as tx:
            row = tx.scalars(sa.select(ACC).where(ACC.id == accept_id,
                                                  caller.sees(ACC.project_id))).first()
            if row is None:
                raise TransferAcceptNotFound("Could not find ZoneTransferAccept")
            return row

    def find_accepts(self, caller: Caller, listing: Listing) -> Page:
        query = sa.select(ACC).where(caller.sees(ACC.project_id))
        for key, value in listing.filters.items():
            query = query.where(getattr(ACC, key) == value)
        with self.db.reading() as tx:
            return page(tx, query, ACC, listing)
