"""Identity tables: domains, projects, users, groups, roles, assignments, catalog."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from labs.common.columns import MicroDateTime
from labs.common.db import new_metadata

ID = sa.String(64)
NAME = sa.String(255)


class IdentityBase(DeclarativeBase):
    metadata = new_metadata()


class Domain(IdentityBase):
    __tablename__ = "domain"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    enabled: Mapped[bool] = mapped_column(default=True)


class Project(IdentityBase):
    __tablename__ = "project"
    __table_args__ = (sa.UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    #: The name as a DNS label, unique in the cloud and fixed at creation: what FQDNs, the
    #: project's posix group, homes and exports use (labs.common.names.project_label).
    label: Mapped[str] = mapped_column(sa.String(63), unique=True)
    domain_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("domain.id"))
    parent_id: Mapped[str | None] = mapped_column(ID, sa.ForeignKey("project.id"))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    extra: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


class User(IdentityBase):
    __tablename__ = "user"
    __table_args__ = (sa.UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    domain_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("domain.id"))
    enabled: Mapped[bool] = mapped_column(default=True)
    default_project_id: Mapped[str | None] = mapped_column(ID)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    password_created_at: Mapped[datetime | None] = mapped_column(MicroDateTime)
    extra: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


class Group(IdentityBase):
    __tablename__ = "group"
    __table_args__ = (sa.UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    domain_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("domain.id"))
    description: Mapped[str] = mapped_column(sa.Text, default="")


class Membership(IdentityBase):
    __tablename__ = "user_group_membership"
    user_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("user.id", ondelete="CASCADE"),
                                         primary_key=True)
    group_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("group.id", ondelete="CASCADE"),
                                          primary_key=True)


class Role(IdentityBase):
    __tablename__ = "role"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")


# Assignment target kinds and actor kinds, as stored.
TARGET_PROJECT, TARGET_DOMAIN, TARGET_SYSTEM = "project", "domain", "system"
ACTOR_USER, ACTOR_GROUP = "user", "group"
SYSTEM_ID = "all"


class Assignment(IdentityBase):
    """A role granted to a user or group on a project, a domain or the system."""

    __tablename__ = "assignment"
    actor_type: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    actor_id: Mapped[str] = mapped_column(ID, primary_key=True)
    target_type: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    target_id: Mapped[str] = mapped_column(ID, primary_key=True)
    role_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("role.id", ondelete="CASCADE"),
                                         primary_key=True)
    __table_args__ = (sa.Index("ix_assignment_target", "target_type", "target_id"),
                      sa.Index("ix_assignment_actor", "actor_id"))


class Region(IdentityBase):
    __tablename__ = "region"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    parent_region_id: Mapped[str | None] = mapped_column(ID, sa.ForeignKey("region.id"))


class CatalogService(IdentityBase):
    __tablename__ = "service"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    type: Mapped[str] = mapped_column(NAME)
    name: Mapped[str] = mapped_column(NAME, default="")
    description: Mapped[str] = mapped_column(sa.Text, default="")
    enabled: Mapped[bool] = mapped_column(default=True)


class Endpoint(IdentityBase):
    __tablename__ = "endpoint"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    service_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("service.id", ondelete="CASCADE"))
    interface: Mapped[str] = mapped_column(sa.String(8))
    url: Mapped[str] = mapped_column(sa.Text)
    region_id: Mapped[str | None] = mapped_column(ID, sa.ForeignKey("region.id"))
    enabled: Mapped[bool] = mapped_column(default=True)


class ApplicationCredential(IdentityBase):
    __tablename__ = "application_credential"
    __table_args__ = (sa.UniqueConstraint("user_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    user_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("user.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(ID)
    secret_hash: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    expires_at: Mapped[datetime | None] = mapped_column(MicroDateTime)
    unrestricted: Mapped[bool] = mapped_column(default=False)
    role_ids: Mapped[list[str]] = mapped_column(sa.JSON, default=list)


class Credential(IdentityBase):
    """A user's credential (ec2, totp, cert, ...): the blob is stored encrypted."""

    __tablename__ = "credential"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("user.id", ondelete="CASCADE"),
                                         index=True)
    project_id: Mapped[str | None] = mapped_column(ID)
    type: Mapped[str] = mapped_column(NAME)
    encrypted_blob: Mapped[str] = mapped_column(sa.Text)
    key_hash: Mapped[str] = mapped_column(sa.String(64))


class Trust(IdentityBase):
    """A trustor delegating roles on a project to a trustee (OS-TRUST)."""

    __tablename__ = "trust"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    trustor_user_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    trustee_user_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str | None] = mapped_column(ID)
    impersonation: Mapped[bool] = mapped_column(default=False)
    expires_at: Mapped[datetime | None] = mapped_column(MicroDateTime)
    remaining_uses: Mapped[int | None] = mapped_column()
    allow_redelegation: Mapped[bool] = mapped_column(default=False)
    redelegation_count: Mapped[int | None] = mapped_column()
    redelegated_trust_id: Mapped[str | None] = mapped_column(ID)
    role_ids: Mapped[list[str]] = mapped_column(sa.JSON, default=list)


class LoginFailure(IdentityBase):
    """Failed password checks of a user in a row, for the lockout (labs.identity.lockout)."""

    __tablename__ = "login_failure"
    user_id: Mapped[str] = mapped_column(ID, primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    last_failed_at: Mapped[datetime] = mapped_column(MicroDateTime)


class RevocationEvent(IdentityBase):
    """Tokens matching every set field and issued before ``issued_before`` are revoked."""

    __tablename__ = "revocation_event"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    audit_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    user_id: Mapped[str | None] = mapped_column(ID, index=True)
    project_id: Mapped[str | None] = mapped_column(ID)
    application_credential_id: Mapped[str | None] = mapped_column(ID)
    issued_before: Mapped[datetime] = mapped_column(MicroDateTime)
    expires_at: Mapped[datetime] = mapped_column(MicroDateTime, index=True)


class Revision(IdentityBase):
    """One counter bumped by every identity write: caches compare it to stay exact."""

    __tablename__ = "identity_revision"
    id: Mapped[int] = mapped_column(primary_key=True)
    revision: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class ImpliedRole(IdentityBase):
    """A role inference rule: holding ``prior_role_id`` also grants ``implied_role_id``."""

    __tablename__ = "implied_role"
    prior_role_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("role.id", ondelete="CASCADE"), primary_key=True)
    implied_role_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("role.id", ondelete="CASCADE"), primary_key=True)


class RegisteredLimit(IdentityBase):
    """The default limit of a resource of a service (in a region), for every project."""

    __tablename__ = "registered_limit"
    __table_args__ = (sa.UniqueConstraint("service_id", "region_id", "resource_name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    service_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("service.id", ondelete="CASCADE"))
    region_id: Mapped[str | None] = mapped_column(ID, sa.ForeignKey("region.id",
                                                                    ondelete="CASCADE"))
    resource_name: Mapped[str] = mapped_column(NAME)
    default_limit: Mapped[int] = mapped_column(sa.Integer)
    description: Mapped[str | None] = mapped_column(sa.Text)


class Limit(IdentityBase):
    """A project's (or domain's) own limit of a registered resource."""

    __tablename__ = "project_limit"
    __table_args__ = (sa.UniqueConstraint("registered_limit_id", "owner_id"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    #: The project's or the domain's id: one limit per owner and resource.
    owner_id: Mapped[str] = mapped_column(ID)
    registered_limit_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("registered_limit.id", ondelete="CASCADE"))
    project_id: Mapped[str | None] = mapped_column(
        ID, sa.ForeignKey("project.id", ondelete="CASCADE"))
    domain_id: Mapped[str | None] = mapped_column(ID, sa.ForeignKey("domain.id",
                                                                    ondelete="CASCADE"))
    resource_limit: Mapped[int] = mapped_column(sa.Integer)
    description: Mapped[str | None] = mapped_column(sa.Text)


class AccessRule(IdentityBase):
    """What an application credential may call: a service type, a method, a path glob."""

    __tablename__ = "access_rule"
    __table_args__ = (sa.UniqueConstraint("user_id", "service", "path", "method"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("user.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(sa.String(64))
    path: Mapped[str] = mapped_column(sa.String(255))
    method: Mapped[str] = mapped_column(sa.String(16))


class ApplicationCredentialAccessRule(IdentityBase):
    __tablename__ = "app_cred_access_rule"
    app_cred_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("application_credential.id", ondelete="CASCADE"), primary_key=True)
    access_rule_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("access_rule.id"), primary_key=True)


class PolicyBlob(IdentityBase):
    """Keystone's deprecated ``/v3/policies``: an opaque blob stored for clients."""

    __tablename__ = "policy"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    type: Mapped[str] = mapped_column(NAME)
    blob: Mapped[str] = mapped_column(sa.Text)
    extra: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


class EndpointGroup(IdentityBase):
    """OS-EP-FILTER: endpoints chosen by ``filters`` (service_id, region_id, interface)."""

    __tablename__ = "endpoint_group"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    description: Mapped[str | None] = mapped_column(sa.Text)
    filters: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


class ProjectEndpointGroup(IdentityBase):
    __tablename__ = "project_endpoint_group"
    endpoint_group_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("endpoint_group.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ID, primary_key=True)


#: Shell names compared byte for byte (MariaDB's default collation folds case).
SHELL_NAME = sa.String(32).with_variant(mysql.VARCHAR(32, collation="utf8mb4_nopad_bin"),
                                        "mysql")


class PosixAllocation(IdentityBase):
    """The account ledger: one row per shell name ever given, whatever the backend,
    and one per project (its group's gid, from the same numbers).

    ``number`` is an autoincrement key: concurrent inserts get distinct numbers without
    a lock held for the rest of the transaction, and SQLite's AUTOINCREMENT and
    InnoDB's counter never hand out a number again. A deleted user's row stays (its
    ``released_at`` set), so its shell name, uid and gid are never reused.
    """

    __tablename__ = "posix_allocation"
    __table_args__ = {"sqlite_autoincrement": True}
    number: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    shell_name: Mapped[str | None] = mapped_column(SHELL_NAME, unique=True)
    user_id: Mapped[str | None] = mapped_column(ID, unique=True)
    #: A project's group: the row holds its gid (no shell name, no user).
    project_id: Mapped[str | None] = mapped_column(ID, unique=True)
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)
    released_at: Mapped[datetime | None] = mapped_column(MicroDateTime)


class UserPosix(IdentityBase):
    """The SQL backend's copy of a user's POSIX account (LDAP keeps it in the entry)."""

    __tablename__ = "user_posix"
    user_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("user.id", ondelete="CASCADE"),
                                         primary_key=True)
    shell_name: Mapped[str] = mapped_column(SHELL_NAME, unique=True)
    uid_number: Mapped[int] = mapped_column(sa.Integer, unique=True)
    gid_number: Mapped[int] = mapped_column(sa.Integer)
    home_directory: Mapped[str] = mapped_column(sa.String(255))
    login_shell: Mapped[str] = mapped_column(sa.String(255))


class SshKey(IdentityBase):
    """The SQL backend's ssh public keys: one OpenSSH line per row."""

    __tablename__ = "ssh_key"
    user_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("user.id", ondelete="CASCADE"),
                                         primary_key=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    public_key: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(MicroDateTime)


class SudoRule(IdentityBase):
    """A project's sudo rule (labs.identity.sudo.rules.SudoRule), one ``sudoRole``."""

    __tablename__ = "sudo_rule"
    project_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("project.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    users: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    hosts: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    commands: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    options: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    run_as_users: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    run_as_groups: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    sudo_order: Mapped[int] = mapped_column(sa.Integer, default=0)
