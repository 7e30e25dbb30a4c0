"""What the metadata service knows about an instance, and where it asks for it.

The metadata listener (labs.network.agent.metadata.server) knows only two things about a
request: the network whose socket received it and the caller's address. A
`MetadataSource` turns that pair into the instance's `InstanceMetadata`: the conductor
answers over the message bus in the cloud; `StaticMetadataSource` holds records in
memory (tests, a single host).
"""

from __future__ import annotations

import ipaddress
import re
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from labs.network.specs import InvalidRequest, check_cidr, check_hostname, check_id, check_ipv4


@dataclass(frozen=True)
class InstanceMetadata:
    """One instance's port on one network, and what the instance may learn about itself.

    `hostname` is the instance's DNS label; with `project_name` and `dns_domain` it makes
    the FQDN ``<hostname>.<project_name>.<dns_domain>``. `public_keys` maps key pair names
    to OpenSSH public keys (Nova gives at most one: the server's key pair). `user_data` is
    the decoded user data (None: the server has none). `metadata` is the server's
    key/value metadata. `dns_servers` empty means the gateway, which serves the network's
    DNS. `image_id`, `flavor_name`, `security_groups`, `reservation_id` and
    `root_device_name` only feed the EC2 tree; `created_at` is for the source's own
    bookkeeping and, as in Nova, is served nowhere.
    """

    uuid: str
    name: str
    hostname: str
    project_id: str
    project_name: str
    dns_domain: str
    network_id: str
    cidr: str
    gateway: str
    fixed_ip: str
    mac: str
    port_id: str = ""
    mtu: int = 1500
    dns_servers: tuple[str, ...] = ()
    floating_ip: str | None = None
    availability_zone: str = "nova"
    launch_index: int = 0
    public_keys: Mapping[str, str] = field(default_factory=dict)
    user_data: bytes | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    image_id: str | None = None
    flavor_name: str = ""
    security_groups: tuple[str, ...] = ("default",)
    reservation_id: str = ""
    root_device_name: str = "/dev/vda"
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        try:
            uuid.UUID(self.uuid)
        except ValueError:
            raise InvalidRequest(f"bad instance uuid {self.uuid!r}") from None
        check_hostname("hostname", self.hostname, dotted=False)
        if self.dns_domain:
            check_hostname("DNS domain", self.dns_domain, dotted=True)
        check_id("network", self.network_id)
        net = check_cidr("network CIDR", self.cidr)
        for kind, value in (("gateway", self.gateway), ("fixed IP", self.fixed_ip)):
            if check_ipv4(kind, value) not in net:
                raise InvalidRequest(f"{kind} {value} is not in {self.cidr}")
        for server in self.dns_servers:
            check_ipv4("DNS server", server)
        if self.floating_ip is not None:
            check_ipv4("floating IP", self.floating_ip)
        if self.user_data is not None and not isinstance(self.user_data, bytes):
            raise InvalidRequest("user data must be bytes (decoded from the API's base64)")
        # Read-only copies: the record is shared between the threads that serve it.
        object.__setattr__(self, "public_keys", MappingProxyType(dict(self.public_keys)))
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    @property
    def fqdn(self) -> str:
        """``<hostname>.<project>.<dns_domain>`` as the guest derives it (the project name
        made a DNS label); just the hostname when the project or the domain is unset."""
        project = re.sub(r"[^a-z0-9-]", "-", self.project_name.lower())[:63].strip("-")
        if not project or not self.dns_domain:
            return self.hostname
        return f"{self.hostname}.{project}.{self.dns_domain}"

    @property
    def netmask(self) -> str:
        return str(ipaddress.IPv4Network(self.cidr).netmask)


class MetadataSource(ABC):
    """Finds the instance behind a metadata request."""

    @abstractmethod
    def instance_for(self, network_id: str, fixed_ip: str) -> InstanceMetadata | None:
        """The instance whose port on `network_id` has `fixed_ip`, or None when no port
        there has it. Never an instance of another network: the same address may be in
        use on several networks."""


class StaticMetadataSource(MetadataSource):
    """Records held in memory, keyed by (network, fixed IP); safe to change while a
    server reads them."""

    def __init__(self, instances: Iterable[InstanceMetadata] = ()) -> None:
        self._lock = threading.Lock()
        self._by_address: dict[tuple[str, str], InstanceMetadata] = {}
        for instance in instances:
            self.add(instance)

    def add(self, instance: InstanceMetadata) -> None:
        """Add or replace the record of the instance's address on its network."""
        with self._lock:
            self._by_address[(instance.network_id, instance.fixed_ip)] = instance

    def remove(self, network_id: str, fixed_ip: str) -> None:
        """Forget the address; a missing one is fine."""
        with self._lock:
            self._by_address.pop((network_id, fixed_ip), None)

    def instance_for(self, network_id: str, fixed_ip: str) -> InstanceMetadata | None:
        with self._lock:
            return self._by_address.get((network_id, fixed_ip))
