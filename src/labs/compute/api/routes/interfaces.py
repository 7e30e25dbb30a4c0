"""os-interface: a server's network interfaces (its ports), listed, shown, attached and
detached (Nova's shapes: ``interfaceAttachment``)."""

from __future__ import annotations

from typing import Any

from labs.common.http import Api, Call, Reply
from labs.compute.api.interfaces import ServerInterfaces
from labs.compute.api.service import ComputeService
from labs.network.ports import PortRecord

ATTACH: dict[str, Any] = {
    "type": "object",
    "properties": {"interfaceAttachment": {
        "type": "object",
        "properties": {
            "net_id": {"type": "string", "format": "uuid"},
            "port_id": {"type": "string", "format": "uuid"},
            "fixed_ips": {"type": "array", "minItems": 1, "items": {
                "type": "object",
                "properties": {"ip_address": {"type": "string", "format": "ipv4"}},
                "required": ["ip_address"], "additionalProperties": False}},
            "tag": {"type": "string", "maxLength": 60},
        },
        "additionalProperties": False}},
    "required": ["interfaceAttachment"],
    "additionalProperties": False,
}


def view(call: Call, port: PortRecord) -> dict[str, Any]:
    """One ``interfaceAttachment``."""
    out: dict[str, Any] = {
        "port_state": port.status, "port_id": port.id, "net_id": port.network_id,
        "mac_addr": port.mac,
        "fixed_ips": [{"subnet_id": subnet, "ip_address": address}
                      for subnet, address in port.fixed_ips]}
    if call.at_least(2, 70):
        out["tag"] = None
    return out


def register(api: Api, service: ComputeService) -> None:
    interfaces = ServerInterfaces(service.servers)

    @api.get("/v2.1/servers/{server_id}/os-interface")
    def list_interfaces(call: Call) -> dict[str, Any]:
        """The server's interfaces, in NIC order."""
        ctx = call.enforce("compute:interfaces:read")
        ports = interfaces.list(ctx, call.params["server_id"])
        return {"interfaceAttachments": [view(call, port) for port in ports]}

    @api.get("/v2.1/servers/{server_id}/os-interface/{port_id}")
    def show_interface(call: Call) -> dict[str, Any]:
        ctx = call.enforce("compute:interfaces:read")
        port = interfaces.show(ctx, call.params["server_id"], call.params["port_id"])
        return {"interfaceAttachment": view(call, port)}

    @api.post("/v2.1/servers/{server_id}/os-interface", schema=ATTACH)
    def attach_interface(call: Call) -> dict[str, Any]:
        """Attach a port of the project's, or one made on a network (the server's
        project's, when none is named); hot-plugged when the server runs."""
        ctx = call.enforce("compute:interfaces:manage")
        port = interfaces.attach(ctx, call.params["server_id"],
                                 call.body["interfaceAttachment"])
        return {"interfaceAttachment": view(call, port)}

    @api.delete("/v2.1/servers/{server_id}/os-interface/{port_id}")
    def detach_interface(call: Call) -> Reply:
        ctx = call.enforce("compute:interfaces:manage")
        interfaces.detach(ctx, call.params["server_id"], call.params["port_id"])
        return Reply(None, status=202)
