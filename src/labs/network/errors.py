"""The network API's errors, each with the ``type`` Neutron gives it in its bodies."""

from __future__ import annotations

from labs.common.errors import BadRequest, NotFound


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
