"""The compute service as the API sees it: the parts wired together, one per process."""

from __future__ import annotations

from labs.common.bus import Bus
from labs.common.db import Database, upgrade
from labs.compute.api.flavors import FlavorService
from labs.compute.api.groups import ServerGroupService
from labs.compute.api.hosts import HostService
from labs.compute.api.images import ImageLookup
from labs.compute.api.keypairs import KeypairService
from labs.compute.api.migrations import MigrationService
from labs.compute.api.network_proxy import NetworkProxy
from labs.compute.api.quotas import QuotaService
from labs.compute.api.server_actions import ServerActions
from labs.compute.api.server_moves import ServerMoves
from labs.compute.api.server_shelve import ShelveActions
from labs.compute.api.servers import ServerService
from labs.compute.api.usage import UsageService
from labs.compute.config import ComputeOptions
from labs.compute.rpcapi import AgentAPI, ConductorAPI
from labs.network.service import NetworkService


class ComputeService:
    """Flavors, key pairs, servers, server groups, quotas, hosts; and the network (fixed
    and floating IPs, security groups), whose tables live beside compute's."""

    def __init__(self, db: Database, options: ComputeOptions, bus: Bus,
                 images: ImageLookup, network: NetworkService) -> None:
        self.db = db
        self.options = options
        self.network = network
        self.quotas = QuotaService(options, self.network)
        self.flavors = FlavorService(db)
        self.keypairs = KeypairService(db, self.quotas)
        self.groups = ServerGroupService(db, self.quotas)
        self.hosts = HostService(db, options)
        self.servers = ServerService(db, options, self.quotas, self.flavors, self.keypairs,
                                     self.groups, images, ConductorAPI(bus), AgentAPI(bus),
                                     self.hosts, self.network)
        self.actions = ServerActions(self.servers)
        self.migrations = MigrationService(db)
        self.shelving = ShelveActions(self.actions, options)
        self.moves = ServerMoves(self.servers)
        self.network_proxy = NetworkProxy(self.servers)
        self.usage = UsageService(db)

    def prepare(self) -> None:
        """Migrate the schema and offer the default flavors on a new cloud."""
        upgrade(self.db, "compute")
        self.network.prepare()
        self.flavors.ensure_defaults()
