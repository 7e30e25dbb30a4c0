"""The live instances as the sink's reconciler sees them: read from the compute tables
in the shared database (servers not deleted, with their fixed IPv4 addresses)."""

from __future__ import annotations

import sqlalchemy as sa

from labs.common.db import Database
from labs.compute import models
from labs.dns.sink import InstanceSource, LiveInstance
from labs.network import models as net_models


class ComputeInstances(InstanceSource):
    def __init__(self, db: Database) -> None:
        self.db = db

    def live_instances(self) -> list[LiveInstance]:
        inst, fixed = models.Instance, net_models.FixedIp
        with self.db.reading() as tx:
            rows = tx.execute(sa.select(inst.id, inst.hostname, inst.project_name,
                                        fixed.address)
                              .join(fixed, fixed.instance_id == inst.id)
                              .where(inst.deleted.is_(False))
                              .order_by(inst.id, fixed.address))
            addresses: dict[str, list[str]] = {}
            names: dict[str, tuple[str, str]] = {}
            for iid, hostname, project_name, address in rows:
                names[iid] = (hostname, project_name or "")
                addresses.setdefault(iid, []).append(address)
        return [LiveInstance(iid, host, project, tuple(addresses[iid]))
                for iid, (host, project) in names.items()]
