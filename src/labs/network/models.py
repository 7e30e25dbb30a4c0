"""Network tables: projects' networks, their subnets and fixed IPs, security groups and
their rules, floating IPs, routers and their interfaces.

They live in the compute database (the conductor owns them, as it owns instances) with
migrations of their own (``alembic_version_network``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from labs.common.columns import EXACT, MicroDateTime
from labs.common.db import new_metadata

ID = sa.String(64)
UUID = sa.String(36)


class NetworkBase(DeclarativeBase):
    metadata = new_metadata()


class Network(NetworkBase):
    """A network of a project (Neutron's ``network``): made through the API, or carved
    from the cloud's pool as the project's default one on its first VM
    (`default_of_project`)."""

    __tablename__ = "network"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(ID, index=True)
    #: Its name (nova-network's label: the key of a server's ``addresses``).
    label: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str] = mapped_column(sa.String(255), default="")
    shared: Mapped[bool] = mapped_column(default=False)
    admin_state_up: Mapped[bool] = mapped_column(default=True)
    mtu: Mapped[int] = mapped_column(default=1500)
    #: The project whose default network this is (made on its first VM); else None.
    default_of_project: Mapped[str | None] = mapped_column(ID, unique=True)
    #: The external address of the network's uplink (its outbound NAT address).
    external_ip: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    revision_number: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)
    updated_at: Mapped[datetime] = mapped_column(MicroDateTime)


class Subnet(NetworkBase):
    """A network's IPv4 range (Labs networks carry one): its gateway (the host side's
    DHCP, DNS, metadata and router address) and the pools its fixed IPs come from."""

    __tablename__ = "subnet"
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    network_id: Mapped[str] = mapped_column(ID, index=True)
    project_id: Mapped[str] = mapped_column(ID, index=True)
    name: Mapped[str] = mapped_column(sa.String(255), default="")
    description: Mapped[str] = mapped_column(sa.String(255), default="")
    ip_version: Mapped[int] = mapped_column(default=4)
    cidr: Mapped[str] = mapped_column(sa.String(64))
    #: The block of ``[network] fixed_range`` a project's default network was carved
    #: from (its cidr; none for the subnets projects make): one subnet per block.
    pool_block: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    gateway_ip: Mapped[str | None] = mapped_column(sa.String(64))
    #: [{"start", "end"}]
    allocation_pools: Mapped[Any] = mapped_column(sa.JSON)
    dns_nameservers: Mapped[Any] = mapped_column(sa.JSON)
    #: [{"destination", "nexthop"}]
    host_routes: Mapped[Any] = mapped_column(sa.JSON)
    enable_dhcp: Mapped[bool] = mapped_column(default=True)
    revision_number: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)
    updated_at: Mapped[datetime] = mapped_column(MicroDateTime)


class Port(NetworkBase):
    """A place on a network (Neutron's ``port``): its MAC, its fixed IPs (the `FixedIp`
    rows it holds) and the device it is bound to (``device_id``: a server's id, with
    ``device_owner`` ``compute:<zone>``). Compute makes one for a server that asks for a
    network (`auto_delete`: deleted with the server); a project makes its own through
    the API (kept, unbound, when its server goes)."""

    __tablename__ = "port"
    __table_args__ = (sa.UniqueConstraint("network_id", "mac_address"),)
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    network_id: Mapped[str] = mapped_column(ID, index=True)
    project_id: Mapped[str] = mapped_column(ID, index=True)
    name: Mapped[str] = mapped_column(sa.String(255), default="")
    description: Mapped[str] = mapped_column(sa.String(255), default="")
    mac_address: Mapped[str] = mapped_column(sa.String(32))
    device_id: Mapped[str] = mapped_column(sa.String(255), default="", index=True)
    device_owner: Mapped[str] = mapped_column(sa.String(255), default="")
    admin_state_up: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="DOWN")
    port_security_enabled: Mapped[bool] = mapped_column(default=True)
    #: The ids of the port's security groups (its project's).
    security_groups: Mapped[Any] = mapped_column(sa.JSON)
    #: [{"ip_address", "mac_address"}]
    allowed_address_pairs: Mapped[Any] = mapped_column(sa.JSON)
    #: ``binding:host_id``: the host it is plugged on ("" while unbound).
    binding_host_id: Mapped[str] = mapped_column(sa.String(255), default="")
    #: Made by compute for a server (deleted with it), not through the API.
    auto_delete: Mapped[bool] = mapped_column(default=False)
    revision_number: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)
    updated_at: Mapped[datetime] = mapped_column(MicroDateTime)


class FixedIp(NetworkBase):
    """One address of a subnet's pools; held by at most one port at a time (and, while
    that port is bound to an instance, by the instance: `instance_id` mirrors the
    port's ``device_id``). An instance has one NIC per network it is on, in
    `nic_index` order."""

    __tablename__ = "fixed_ip"
    __table_args__ = (sa.UniqueConstraint("network_id", "address"),
                      sa.UniqueConstraint("instance_id", "network_id"),
                      sa.Index("ix_fixed_ip_network_free", "network_id", "port_id"))
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    network_id: Mapped[str] = mapped_column(ID)
    subnet_id: Mapped[str] = mapped_column(UUID, index=True)
    address: Mapped[str] = mapped_column(sa.String(64))
    #: Sort key: the address as a number, so allocation goes in address order.
    number: Mapped[int] = mapped_column(sa.BigInteger)
    #: The instance holding it through its port: one address per (instance, network).
    instance_id: Mapped[str | None] = mapped_column(ID, index=True)
    #: The place of its port among the instance's NICs (0: eth0, its primary one).
    nic_index: Mapped[int] = mapped_column(default=0)
    #: The port holding it (None: free).
    port_id: Mapped[str | None] = mapped_column(UUID, index=True)
    #: The project of the port holding it (on a shared network, not the network's).
    project_id: Mapped[str | None] = mapped_column(ID, index=True)
    mac: Mapped[str | None] = mapped_column(sa.String(32))
    #: When it was last released: the longest-free address is handed out first.
    released_at: Mapped[datetime | None] = mapped_column(MicroDateTime)


class SecurityGroup(NetworkBase):
    """A project's named set of allow rules (Neutron's ``security_group``); its id is a
    UUID, as both Neutron and Nova (with Neutron) show it."""

    __tablename__ = "security_group"
    # Neutron allows duplicate names; Labs keeps them unique in a project, because
    # servers name their groups (Nova keeps names) and a name must say which group.
    __table_args__ = (sa.UniqueConstraint("project_id", "name"),)
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(ID)
    name: Mapped[str] = mapped_column(EXACT)
    description: Mapped[str] = mapped_column(sa.String(255), default="")
    stateful: Mapped[bool] = mapped_column(default=True)
    revision_number: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)
    updated_at: Mapped[datetime] = mapped_column(MicroDateTime)


class SecurityGroupRule(NetworkBase):
    """Traffic a group lets in (ingress) or out (egress): an ethertype, a protocol (a
    name, or a number when it has none) and a port range (for ICMP: type and code), to or
    from a CIDR or the members of a group."""

    __tablename__ = "security_group_rule"
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    group_id: Mapped[str] = mapped_column(sa.ForeignKey("security_group.id",
                                                        ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(sa.String(8))
    ethertype: Mapped[str] = mapped_column(sa.String(4))
    protocol: Mapped[str | None] = mapped_column(sa.String(16))
    port_range_min: Mapped[int | None]
    port_range_max: Mapped[int | None]
    remote_ip_prefix: Mapped[str | None] = mapped_column(sa.String(64))
    remote_group_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("security_group.id", ondelete="CASCADE"), index=True)
    description: Mapped[str] = mapped_column(sa.String(255), default="")
    revision_number: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)
    updated_at: Mapped[datetime] = mapped_column(MicroDateTime)


class FloatingIp(NetworkBase):
    """A public address: allocated to a project, then associated with an instance."""

    __tablename__ = "floating_ip"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(sa.String(64), unique=True)
    number: Mapped[int] = mapped_column(sa.BigInteger)
    pool: Mapped[str] = mapped_column(sa.String(255))
    project_id: Mapped[str | None] = mapped_column(ID, index=True)
    instance_id: Mapped[str | None] = mapped_column(ID, index=True)
    fixed_ip: Mapped[str | None] = mapped_column(sa.String(64))
    revision_number: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime | None] = mapped_column(MicroDateTime)


class ResourceTag(NetworkBase):
    """A tag on one of the network's resources (Neutron's ``standard-attr-tag``): the
    resource's collection (``networks``), its API id, the tag."""

    __tablename__ = "resource_tag"
    resource_type: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    resource_id: Mapped[str] = mapped_column(ID, primary_key=True)
    tag: Mapped[str] = mapped_column(EXACT, primary_key=True)


class Router(NetworkBase):
    """A project's router (Neutron's ``router``): it joins the subnets of its interfaces,
    and with a gateway on the external network (Labs has one: the public range) holds an
    address of the public range (`external_ip`, from the networks' uplink half) that its
    networks' traffic leaves by (SNAT) and their floating IPs come in on."""

    __tablename__ = "router"
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(ID, index=True)
    name: Mapped[str] = mapped_column(sa.String(255), default="")
    description: Mapped[str] = mapped_column(sa.String(255), default="")
    admin_state_up: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="ACTIVE")
    #: Whether it has a gateway on the external network. The external network is not a
    #: row (its id derives from ``[network] floating_range``): a flag, not its id.
    external_gateway: Mapped[bool] = mapped_column(default=False)
    #: Its gateway's address on the public range (None without a gateway).
    external_ip: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    enable_snat: Mapped[bool] = mapped_column(default=True)
    revision_number: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)
    updated_at: Mapped[datetime] = mapped_column(MicroDateTime)


class RouterInterface(NetworkBase):
    """A subnet joined to a router, on the subnet's gateway address (its Neutron port's
    id is `id`). A subnet is on one router at most."""

    __tablename__ = "router_interface"
    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    router_id: Mapped[str] = mapped_column(sa.ForeignKey("router.id", ondelete="CASCADE"),
                                           index=True)
    subnet_id: Mapped[str] = mapped_column(UUID, unique=True)
    network_id: Mapped[str] = mapped_column(ID, index=True)
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)


class NetworkQuota(NetworkBase):
    """A project's limit for one of Neutron's resources, where an admin set one (else
    the ``[network] quota_<resource>`` default)."""

    __tablename__ = "network_quota"
    project_id: Mapped[str] = mapped_column(ID, primary_key=True)
    resource: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    hard_limit: Mapped[int]


class NetworkQuotaLock(NetworkBase):
    """One row per project: the network's creates in a project lock it before they
    count, so quota checks are never raced (see labs.common.row_locks)."""

    __tablename__ = "network_quota_lock"
    project_id: Mapped[str] = mapped_column(ID, primary_key=True)
    version: Mapped[int] = mapped_column(default=0)
