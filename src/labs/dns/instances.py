"""The live instances as the sink's reconciler sees them, and the floating IPs of the
PTR API: asked of compute's conductor over the bus (compute's and network's tables are
theirs to read)."""

from __future__ import annotations

from labs.compute.rpcapi import ConductorAPI
from labs.dns.floating import FloatingAddress, FloatingIpSource
from labs.dns.sink import InstanceSource, LiveInstance


class ConductorInstances(InstanceSource):
    def __init__(self, conductor: ConductorAPI) -> None:
        self.conductor = conductor

    def live_instances(self) -> list[LiveInstance]:
        return [LiveInstance(str(i["id"]), str(i["hostname"]), str(i["project_name"]),
                             tuple(str(a) for a in i["addresses"]),
                             tuple(str(a) for a in i.get("floating", ())))
                for i in self.conductor.list_live_instances()]


class ConductorFloatingIps(FloatingIpSource):
    def __init__(self, conductor: ConductorAPI) -> None:
        self.conductor = conductor

    def floating_ips(self, project_id: str | None) -> list[FloatingAddress]:
        return [FloatingAddress(str(f["id"]), str(f["address"]), str(f["project_id"]))
                for f in self.conductor.list_floating_ips(project_id)]
