"""First start of a cloud: the default domain, roles, admin and demo, the catalog.

Idempotent: a second start finds everything and only refreshes the catalog's
URLs (the cloud may now listen elsewhere). Generated passwords go to the
``clouds.yaml`` it writes (mode 0600), never to a log.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml

from labs.common.errors import NotFound
from labs.identity import models
from labs.identity.assignments import Grant
from labs.identity.backends.base import UserFilter
from labs.identity.resources import ProjectFilter
from labs.identity.service import IdentityService

log = logging.getLogger("labs.identity.bootstrap")

ROLES = ("admin", "projectadmin", "member", "reader")
REGION = "RegionOne"
DEFAULT_DOMAIN_NAME = "Default"


@dataclass(frozen=True)
class CatalogService:
    """A service this process serves: its type, name and path under the public URL."""

    type: str
    name: str
    path: str


IDENTITY = CatalogService("identity", "keystone", "/identity")
IMAGE = CatalogService("image", "glance", "/image")
COMPUTE = CatalogService("compute", "nova", "/compute/v2.1")
DNS = CatalogService("dns", "designate", "/dns")
NETWORK = CatalogService("network", "neutron", "/network")
ACCOUNTS = CatalogService("accounts", "labs-accounts", "/accounts/v1")


@dataclass(frozen=True)
class Account:
    user: str
    password: str
    project: str


def _ensure_role(identity: IdentityService, name: str) -> models.Role:
    found = identity.assignments.list_roles(name)
    return found[0] if found else identity.assignments.create_role(name)


def _ensure_project(identity: IdentityService, name: str, description: str) -> models.Project:
    domain_id = identity.default_domain_id
    found = identity.resources.list_projects(ProjectFilter(name=name, domain_id=domain_id))
    if found:
        return found[0]
    return identity.resources.create_project(
        {"name": name, "description": description}, domain_id)


def _ensure_user(identity: IdentityService, name: str, project: models.Project,
                 role: models.Role, password: str | None) -> Account | None:
    """Create the user with a new password; None when it already existed."""
    domain_id = identity.default_domain_id
    if identity.users.list_users(UserFilter(domain_id=domain_id, name=name)):
        return None
    password = password or secrets.token_urlsafe(18)
    user = identity.users.create_user(
        {"name": name, "password": password, "default_project_id": project.id}, domain_id)
    identity.assignments.create_grant(Grant(role.id, models.ACTOR_USER, user.id,
                                            models.TARGET_PROJECT, project.id))
    return Account(name, password, project.name)


def ensure_catalog(identity: IdentityService, public_url: str,
                   services: tuple[CatalogService, ...]) -> None:
    catalog = identity.catalog
    try:
        catalog.get_region(REGION)
    except NotFound:
        catalog.create_region({"id": REGION, "description": "the Labs all-in-one region"})
    for svc in services:
        found = catalog.list_services(type=svc.type)
        row = found[0] if found else catalog.create_service({"type": svc.type, "name": svc.name})
        url = public_url.rstrip("/") + svc.path
        have = {e.interface: e for e in catalog.list_endpoints(service_id=row.id)}
        for interface in ("public", "internal", "admin"):
            if interface not in have:
                catalog.create_endpoint({"service_id": row.id, "interface": interface,
                                         "url": url, "region_id": REGION})
            elif have[interface].url != url:
                catalog.update_endpoint(have[interface].id, {"url": url})


def withdraw_from_catalog(identity: IdentityService, svc: CatalogService) -> None:
    """Remove the endpoints of `svc` this cloud served (at its path, under any public URL
    the cloud had; others, e.g. a Neutron of the operator's, stay), and the service once
    it has no endpoints left."""
    catalog = identity.catalog

    def ours(url: str) -> bool:
        return url.rstrip("/").endswith(svc.path)

    for row in catalog.list_services(type=svc.type):
        endpoints = catalog.list_endpoints(service_id=row.id)
        for endpoint in endpoints:
            if ours(endpoint.url):
                catalog.delete_endpoint(endpoint.id)
        if all(ours(e.url) for e in endpoints):
            catalog.delete_service(row.id)


def bootstrap(identity: IdentityService, public_url: str, data_dir: Path,
              services: tuple[CatalogService, ...] = (IDENTITY,),
              admin_password: str | None = None) -> Path:
    """Make a usable cloud; returns the path of its clouds.yaml."""
    try:
        identity.resources.get_domain(identity.default_domain_id)
    except NotFound:
        identity.resources.create_domain(DEFAULT_DOMAIN_NAME, "The default domain",
                                         domain_id=identity.default_domain_id)
    fresh = not identity.assignments.list_roles()
    roles = {name: _ensure_role(identity, name) for name in ROLES}
    if fresh:  # admin -> member -> reader as data (an operator may change them later)
        identity.implied_roles.ensure_defaults()
    admin_project = _ensure_project(identity, "admin", "Cloud administrators")
    demo_project = _ensure_project(identity, "demo", "A project to try Labs in")
    admin = _ensure_user(identity, "admin", admin_project, roles["admin"], admin_password)
    if admin is not None:
        user = identity.users.list_users(UserFilter(name="admin",
                                                    domain_id=identity.default_domain_id))[0]
        identity.assignments.create_grant(Grant(roles["admin"].id, models.ACTOR_USER, user.id,
                                                models.TARGET_SYSTEM, models.SYSTEM_ID))
        log.info("bootstrap: created the admin user; its password is in clouds.yaml")
    demo = _ensure_user(identity, "demo", demo_project, roles["member"], None)
    ensure_catalog(identity, public_url, services)
    return write_clouds_yaml(data_dir, public_url, admin, demo)


def write_clouds_yaml(data_dir: Path, public_url: str, admin: Account | None,
                      demo: Account | None) -> Path:
    """Write or refresh ``clouds.yaml``: clouds ``labs`` (admin) and ``labs-demo``."""
    path = data_dir / "clouds.yaml"
    current: dict[str, dict[str, dict[str, object]]] = {"clouds": {}}
    if path.exists():
        current = yaml.safe_load(path.read_text()) or current
    clouds = current.setdefault("clouds", {})
    for cloud, account in (("labs", admin), ("labs-demo", demo)):
        entry = clouds.get(cloud)
        if account is not None:
            entry = {"auth": {"username": account.user, "password": account.password,
                              "project_name": account.project,
                              "user_domain_name": DEFAULT_DOMAIN_NAME,
                              "project_domain_name": DEFAULT_DOMAIN_NAME}}
        if entry is None:
            continue
        auth = entry.setdefault("auth", {})
        assert isinstance(auth, dict)
        auth["auth_url"] = public_url.rstrip("/") + IDENTITY.path + "/v3"
        entry.update({"region_name": REGION, "identity_api_version": 3, "interface": "public"})
        clouds[cloud] = entry
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(current, handle, sort_keys=False)
    os.replace(tmp, path)
    return path
