"""The network API's errors, each with the ``type`` Neutron gives it in its bodies."""

from __future__ import annotations

from labs.common.errors import BadRequest, Conflict, NotFound


class NetworkNotFound(NotFound):
    neutron_type = "NetworkNotFound"

    def __init__(self, network_id: str) -> None:
        super().__init__(f"Network {network_id} could not be found.")


class SubnetNotFound(NotFound):
    neutron_type = "SubnetNotFound"

    def __init__(self, subnet_id: str) -> None:
        super().__init__(f"Subnet {subnet_id} could not be found.")


class InvalidInput(BadRequest):
    """A query value of the wrong kind (``?shared=maybe``)."""

    neutron_type = "InvalidInput"

    def __init__(self, problem: str) -> None:
        super().__init__(f"Invalid input for operation: {problem}.")


class BadLimit(BadRequest):
    """A ``?limit=`` that is not a count (neutron-lib's ``BadRequest`` on ``limit``)."""

    neutron_type = "BadRequest"

    def __init__(self, problem: str) -> None:
        super().__init__(f"Bad limit request: {problem}.")


class PortNotFound(NotFound):
    neutron_type = "PortNotFound"

    def __init__(self, port_id: str) -> None:
        super().__init__(f"Port {port_id} could not be found.")


class FloatingIPNotFound(NotFound):
    neutron_type = "FloatingIPNotFound"

    def __init__(self, floating_id: str) -> None:
        super().__init__(f"Floating IP {floating_id} could not be found")


class BadFloatingIpRequest(BadRequest):
    """A floating IP asked of a network that is not the external one, or for a port
    address the port does not have."""

    neutron_type = "BadRequest"

    def __init__(self, problem: str) -> None:
        super().__init__(f"Bad floatingip request: {problem}.")


class OverQuota(Conflict):
    neutron_type = "OverQuota"

    def __init__(self, resource: str) -> None:
        super().__init__(f"Quota exceeded for resources: ['{resource}'].")


class IpAddressGenerationFailure(Conflict):
    neutron_type = "IpAddressGenerationFailure"

    def __init__(self, network_id: str) -> None:
        super().__init__(f"No more IP addresses available on network {network_id}.")



class RouterNotFound(NotFound):
    neutron_type = "RouterNotFound"

    def __init__(self, router_id: str) -> None:
        super().__init__(f"Router {router_id} could not be found")


class RouterInUse(Conflict):
    neutron_type = "RouterInUse"

    def __init__(self, router_id: str) -> None:
        super().__init__(f"Router {router_id} still has ports")


class RouterInterfaceNotFound(NotFound):
    neutron_type = "RouterInterfaceNotFound"

    def __init__(self, router_id: str, port_id: str) -> None:
        super().__init__(f"Router {router_id} does not have an interface with id {port_id}")


class RouterInterfaceNotFoundForSubnet(NotFound):
    neutron_type = "RouterInterfaceNotFoundForSubnet"

    def __init__(self, router_id: str, subnet_id: str) -> None:
        super().__init__(f"Router {router_id} has no interface on subnet {subnet_id}")


class RouterInterfaceInUseByFloatingIP(Conflict):
    neutron_type = "RouterInterfaceInUseByFloatingIP"

    def __init__(self, router_id: str, subnet_id: str) -> None:
        super().__init__(f"Router interface for subnet {subnet_id} on router {router_id} "
                         "cannot be deleted, as it is required by one or more floating IPs.")


class RouterExternalGatewayInUseByFloatingIp(Conflict):
    neutron_type = "RouterExternalGatewayInUseByFloatingIp"

    def __init__(self, router_id: str) -> None:
        super().__init__(f"Gateway cannot be updated for router {router_id}, since a "
                         "gateway to the external network is required by one or more "
                         "floating IPs.")


class NoRouterAddressLeft(Conflict):
    """The public range's uplink half is used up."""

    neutron_type = "IpAddressGenerationFailure"

    def __init__(self, router_id: str) -> None:
        super().__init__(f"No more IP addresses available for the gateway of router "
                         f"{router_id} on the external network.")


class ExternalGatewayForFloatingIPNotFound(NotFound):
    neutron_type = "ExternalGatewayForFloatingIPNotFound"

    def __init__(self, external_id: str, subnet_id: str, port_id: str) -> None:
        super().__init__(f"External network {external_id} is not reachable from subnet "
                         f"{subnet_id}.  Therefore, cannot associate Port {port_id} with a "
                         "Floating IP.")


class IpAddressInUse(Conflict):
    """A subnet's gateway address is taken by another router's interface."""

    neutron_type = "IpAddressInUse"

    def __init__(self, network_id: str, address: str) -> None:
        super().__init__(f"Unable to complete operation for network {network_id}. The IP "
                         f"address {address} is in use.")


class PortInUse(Conflict):
    """A port asked for by a server while another device holds it (Nova's 409)."""

    neutron_type = "PortInUse"

    def __init__(self, port_id: str) -> None:
        super().__init__(f"Port {port_id} is still in use.")
