"""The DNS service (Designate v2): zones, recordsets, TLDs and quotas per project, and
the records the cloud keeps for its VMs.

The database is the truth; after each change the service publishes the changed zone
to its backend (`publisher.py`). Parts: `zones.py`, `recordsets.py`, `tlds.py`,
`quotas.py`; the methods for the records of VMs are here:

- ``ensure_cloud_zone(name, email, ttl)``: the zone, owned by the cloud's project,
  made unless it exists (idempotent);
- ``set_instance_records(instance_id, records)``: make the records tagged with that
  instance exactly ``records`` (``(zone name, name, type, data)`` each); recordsets are
  made as needed and removed when left empty; each touched zone is published once;
- ``remove_instance_records(instance_id)``: remove every record tagged with it;
- ``managed_instance_ids()``: the instances that have records;
- ``managed_records(instance_id=, type_=, name=, data=)``: the records tagged with an
  instance that match, with the instance's id.

The zones must be the cloud's own (``ensure_cloud_zone``); these records are
``managed`` (``managed_resource_type`` ``instance``) and count against no quota.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import sqlalchemy as sa

from labs.common.db import Database, upgrade
from labs.dns import models
from labs.dns.backends.base import DnsBackend
from labs.dns.blacklists import Blacklists
from labs.dns.config import DnsOptions
from labs.dns.errors import DuplicateZone, InvalidObject, ZoneNotFound
from labs.dns.floating import PTR_TYPE, FloatingPtrs
from labs.dns.names import absolute_name
from labs.dns.publisher import Publisher
from labs.dns.quotas import Quotas
from labs.dns.rdata import USER_TYPES, check_records
from labs.dns.recordsets import RecordSets, check_placement
from labs.dns.scope import Caller
from labs.dns.shares import ZoneShares
from labs.dns.sink import SinkTarget
from labs.dns.statuses import ServiceStatuses
from labs.dns.tasks import ZoneTasks
from labs.dns.tlds import Tlds
from labs.dns.transfers import Transfers
from labs.dns.tsigkeys import TsigKeys
from labs.dns.zone_rules import ZoneRules
from labs.dns.zones import Zones, new_record, new_recordset

log = logging.getLogger("labs.dns")

Z, RS, R = models.Zone, models.RecordSet, models.Record
#: How records made for VMs are tagged.
MANAGED_TYPE = "instance"
MANAGED_PLUGIN = "labs-sink"
#: (zone name, record name, type, data)
InstanceRecord = tuple[str, str, str, str]


class DnsService(SinkTarget):
    def __init__(self, db: Database, options: DnsOptions, backend: DnsBackend,
                 cloud_project_id: str | None = None, internal_domain: str | None = None
                 ) -> None:
        self.db = db
        self.options = options
        self.backend = backend
        #: the project that owns the zones the cloud makes for its VMs
        self.cloud_project_id = cloud_project_id
        self.publisher = Publisher(db, backend)
        self.quotas = Quotas(db, options)
        self.tlds = Tlds(db)
        self.blacklists = Blacklists(db)
        self.tsigkeys = TsigKeys(db)
        self.shares = ZoneShares(db)
        #: the cloud's own domain ([network] dns_domain), where projects get a subdomain
        self.zones = Zones(db, options, self.publisher, self.quotas,
                           ZoneRules.of(options.project_zone_domains, internal_domain))
        self.recordsets = RecordSets(db, self.zones, self.publisher, self.quotas)
        self.floating = FloatingPtrs(db, self.zones, self.publisher, options.region)
        self.tasks = ZoneTasks(db, self.zones, self.quotas)
        self.transfers = Transfers(db, self.zones, self.quotas)
        self.statuses = ServiceStatuses(db, 3 * options.heartbeat_seconds)

    def prepare(self) -> None:
        upgrade(self.db, "dns")

    def sync(self, pending_only: bool = False) -> int:
        """Push the zones to the backend again (see `Publisher.sync`); how many failed."""
        return self.publisher.sync(pending_only)

    # -- the records of VMs ------------------------------------------------------------
    def _cloud(self) -> Caller:
        if self.cloud_project_id is None:
            raise RuntimeError("the DNS service was made without the cloud's project")
        return Caller(self.cloud_project_id, admin=True, edit_managed=True)

    def ensure_cloud_zone(self, name: str, email: str, ttl: int) -> models.Zone:
        """The cloud's zone ``name``, made (owned by the cloud's project) unless it exists;
        a zone of that name in another project is a 409 DuplicateZone."""
        caller = self._cloud()
        name = absolute_name(name)
        for _ in range(2):
            with self.db.reading() as tx:
                zone = tx.scalars(sa.select(Z).where(Z.name == name)).first()
            if zone is not None:
                if zone.project_id != caller.project_id:
                    raise DuplicateZone(f"Zone {name} already exists, owned by a different "
                                        "project")
                return zone
            try:
                return self.zones.create(caller, {"name": name, "email": email, "ttl": ttl},
                                         count_quota=False)
            except DuplicateZone:
                continue  # made meanwhile: read it
        raise DuplicateZone(f"Zone {name} could not be made")

    def set_instance_records(self, instance_id: str, records: Iterable[InstanceRecord]
                             ) -> None:
        """Make the records tagged with ``instance_id`` exactly ``records``."""
        wanted = {self._instance_record(r) for r in records}
        touched: set[str] = set()
        with self.db.transaction() as tx:
            names = sorted({zone for zone, _, _, _ in wanted})
            zones = {z.name: z for z in tx.scalars(
                sa.select(Z).where(Z.name.in_(names)).order_by(Z.name).with_for_update())}
            for zone_name in names:
                if zone_name not in zones or zones[zone_name].action == "DELETE":
                    raise ZoneNotFound(f"Could not find Zone {zone_name}")
            have = {(zone_name, name, type_, data): record
                    for record, zone_name, name, type_, data in tx.execute(
                        sa.select(R, Z.name, RS.name, RS.type, R.data)
                        .join(RS, RS.id == R.recordset_id).join(Z, Z.id == R.zone_id)
                        .where(R.managed_resource_id == instance_id,
                               R.managed_resource_type == MANAGED_TYPE))}
            emptied: set[str] = set()
            for key, record in have.items():
                if key not in wanted:
                    tx.delete(record)
                    emptied.add(record.recordset_id)
                    touched.add(record.zone_id)
            tx.flush()
            for zone_name, name, type_, data in sorted(wanted - set(have)):
                zone = zones[zone_name]
                recordset = tx.scalars(sa.select(RS).where(
                    RS.zone_id == zone.id, RS.name == name, RS.type == type_)).first()
                if recordset is None:
                    check_placement(tx, zone, name, type_)
                    recordset = new_recordset(zone, name, type_)
                    tx.add(recordset)
                    tx.flush()
                elif tx.scalars(sa.select(R.id).where(R.recordset_id == recordset.id,
                                                      R.data == data)).first():
                    continue  # a project's own record already says the same
                elif type_ == "PTR" and tx.scalars(sa.select(R.id).where(
                        R.recordset_id == recordset.id,
                        R.managed_resource_type == PTR_TYPE)).first():
                    continue  # the floating IP's project named the address itself
                tx.add(new_record(recordset, data, managed_resource_id=instance_id,
                                  managed_resource_type=MANAGED_TYPE,
                                  managed_plugin_name=MANAGED_PLUGIN))
                recordset.status = "PENDING"
                touched.add(zone.id)
            tx.flush()
            if emptied:
                tx.execute(sa.delete(RS).where(
                    RS.id.in_(emptied), RS.type.not_in(("SOA", "NS")),
                    ~sa.exists().where(R.recordset_id == RS.id)))
            for zone in tx.scalars(sa.select(Z).where(Z.id.in_(touched)).order_by(Z.name)):
                self.zones.touch(tx, zone)
        for zone_id in sorted(touched):
            self.publisher.publish(zone_id)

    def forget_floating_ip(self, fip_id: str) -> None:
        self.floating.forget(fip_id)

    def remove_instance_records(self, instance_id: str) -> None:
        """Remove every record tagged with ``instance_id`` (and recordsets left empty)."""
        self.set_instance_records(instance_id, [])

    def managed_instance_ids(self) -> set[str]:
        """The instances the cloud keeps records for."""
        with self.db.reading() as tx:
            return set(tx.scalars(sa.select(R.managed_resource_id).distinct().where(
                R.managed.is_(True), R.managed_resource_type == MANAGED_TYPE,
                R.managed_resource_id.is_not(None))))

    def managed_records(self, *, instance_id: str | None = None, type_: str | None = None,
                        name: str | None = None, data: str | None = None
                        ) -> list[tuple[str, InstanceRecord]]:
        """The records tagged with an instance (``instance_id``'s only, if given) of that
        type, name and data: (instance id, (zone name, name, type, data)) each."""
        query = (sa.select(R.managed_resource_id, Z.name, RS.name, RS.type, R.data)
                 .join(RS, RS.id == R.recordset_id).join(Z, Z.id == R.zone_id)
                 .where(R.managed_resource_type == MANAGED_TYPE,
                        R.managed_resource_id.is_not(None))
                 .order_by(R.managed_resource_id, Z.name, RS.name, RS.type, R.data))
        for column, value in ((R.managed_resource_id, instance_id), (RS.type, type_),
                              (RS.name, name), (R.data, data)):
            if value is not None:
                query = query.where(column == value)
        with self.db.reading() as tx:
            return [(str(owner), (zone, rs_name, rs_type, rdata))
                    for owner, zone, rs_name, rs_type, rdata in tx.execute(query)]

    @staticmethod
    def _instance_record(record: InstanceRecord) -> InstanceRecord:
        zone_name, name, type_, data = record
        type_ = type_.upper()
        if type_ not in USER_TYPES:
            raise InvalidObject(f"{type_} is not a record type Labs serves")
        return (absolute_name(zone_name), absolute_name(name), type_,
                check_records(type_, [data])[0])


