"""A router's interfaces as the ports Neutron shows for them (``device_owner``
``network:router_interface``, ``device_id`` the router, the subnet's gateway address as
their fixed IP), so that clients that find a router's interfaces by listing its ports
(``GET /v2.0/ports?device_id=<router>``: openstacksdk's ``list_router_interfaces``, the
openstack.cloud ``router`` module) see them. They are not port rows: the interface row
is the port, its id the port's, and it goes with ``remove_router_interface``.
"""

from __future__ import annotations

from collections.abc import Mapping

from labs.network.fixed_ips import mac_for
from labs.network.ports import PortRecord
from labs.network.routers import RouterRecord
from labs.network.topology import SubnetRecord

ROUTER_INTERFACE = "network:router_interface"


def interface_ports(routers: list[RouterRecord], subnets: Mapping[str, SubnetRecord]
                    ) -> list[PortRecord]:
    """The ports of the routers' interfaces (on subnets with a gateway)."""
    found = []
    for router in routers:
        for interface in router.interfaces:
            subnet = subnets.get(interface.subnet_id)
            if subnet is None or subnet.gateway_ip is None:
                continue
            found.append(PortRecord(
                id=interface.id, project_id=router.project_id,
                network_id=interface.network_id, mac=mac_for(interface.id),
                created_at=router.created_at, updated_at=router.updated_at,
                fixed_ips=((subnet.id, subnet.gateway_ip),), device_id=router.id,
                device_owner=ROUTER_INTERFACE, status="ACTIVE",
                port_security_enabled=False))
    return found
