"""Where an agent's metadata service asks who is calling: the agent has no database, so
it asks the conductor over the bus for each request (the conductor's side is
labs.compute.conductor.metadata)."""

from __future__ import annotations

import base64
import binascii
import logging

from labs.common.bus import BusError
from labs.compute.rpcapi import ConductorAPI
from labs.network.agent.metadata.source import InstanceMetadata, MetadataSource
from labs.network.specs import InvalidRequest

log = logging.getLogger("labs.compute.metadata")


class ConductorMetadataSource(MetadataSource):
    """Asks the conductor, over the bus, for each request."""

    def __init__(self, conductor: ConductorAPI, timeout: float = 5.0) -> None:
        self.conductor = conductor
        self.timeout = timeout

    def instance_for(self, network_id: str, fixed_ip: str) -> InstanceMetadata | None:
        try:
            found = self.conductor.instance_metadata(network_id, fixed_ip, self.timeout)
        except BusError as exc:
            log.warning("metadata for %s on %s: the conductor did not answer: %s",
                        fixed_ip, network_id, exc)
            raise
        if found is None:
            return None
        user_data = found.pop("user_data", None)
        try:
            raw = base64.b64decode(user_data) if user_data else None
        except (binascii.Error, ValueError):
            raw = None
        found["security_groups"] = tuple(found.get("security_groups") or ("default",))
        try:
            return InstanceMetadata(user_data=raw, **found)
        except InvalidRequest as exc:
            log.warning("metadata for %s on %s is unusable: %s", fixed_ip, network_id, exc)
            return None
