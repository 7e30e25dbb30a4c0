"""The live instances as the sink's reconciler sees them: asked of compute's conductor
over the bus (compute's and network's tables are theirs to read)."""

from __future__ import annotations

from labs.compute.rpcapi import ConductorAPI
from labs.dns.sink import InstanceSource, LiveInstance


class ConductorInstances(InstanceSource):
    def __init__(self, conductor: ConductorAPI) -> None:
        self.conductor = conductor

    def live_instances(self) -> list[LiveInstance]:
        return [LiveInstance(str(i["id"]), str(i["hostname"]), str(i["project_name"]),
                             tuple(str(a) for a in i["addresses"]),
                             tuple(str(a) for a in i.get("floating", ())))
                for i in self.conductor.list_live_instances()]
