"""Protection: who may call which identity endpoint.

A matrix over every route of the identity API and six callers: the cloud
``admin``, the ``projectadmin`` of project A (``pa``), a ``member`` and a
``reader`` of A (``ma``, ``ra``), a ``member`` of project B (``mb``) and a
caller with no token (``anon``). Each row names the route it exercises (as
registered on the ``Api``), the concrete request, and who may make it;
everyone else must get 403, and ``anon`` 401. The expectations follow
``labs.identity.policy``: the admin may do everything the rules give to
``admin`` (not: change another user's password, or create an application
credential for them: those are the owner's alone); a projectadmin hands out
the project roles on its project and looks users up by exact name; members
and readers read their project and its grants; a user sees and manages their
own user record, password, tokens and application credentials.

Mutating rows act on fresh targets made for the call, so the order of calls
does not matter. Where the target matters to the rule (deleting a project, a
user, a grant, a credential), callers who must be refused aim at the real
thing (project A, user ``ma``, ``ma``'s grant) and callers who may, at a fresh
stand-in: ``{real|stand-in}`` in a path.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.routing import compile_path

from labs.common.db import Database
from labs.identity import models
from labs.identity.api import build_api
from labs.identity.assignments import Grant
from labs.identity.config import IdentityOptions
from labs.identity.limits import LimitFilter
from labs.identity.resources import ProjectFilter
from labs.identity.service import IdentityService
from labs.wiring.identity import new_identity
from tests.conftest import ADMIN_PASSWORD, Cloud
from tests.identity import protection_delegation

V3 = "/identity/v3"
ADMIN, PA, MA, RA, MB, ANON = "admin", "pa", "ma", "ra", "mb", "anon"
CALLERS = (ADMIN, PA, MA, RA, MB, ANON)
#: caller -> (user name, password, project the token is scoped to)
LOGINS = {ADMIN: ("admin", ADMIN_PASSWORD, "admin"), PA: ("pa", "pw", "a"),
          MA: ("ma", "pw", "a"), RA: ("ra", "pw", "a"), MB: ("mb", "pw", "b")}
ROLE_ON = {PA: ("a", "projectadmin"), MA: ("a", "member"), RA: ("a", "reader"),
           MB: ("b", "member")}

EVERYONE = frozenset(CALLERS)
TOKEN_HOLDERS = EVERYONE - {ANON}
ONLY_ADMIN = frozenset({ADMIN})
A_READERS = frozenset({ADMIN, PA, MA, RA})
A_ADMINS = frozenset({ADMIN, PA})


def only(*callers: str) -> frozenset[str]:
    return frozenset(callers)


Body = Callable[["World", str], Any]


@dataclass(frozen=True)
class Row:
    """One request and who may make it."""

    method: str
    route: str  # the path template exactly as registered on the Api
    path: str  # the request, with {placeholders} the World fills in
    allowed: frozenset[str]
    body: Body | None = None
    subject: str | None = None  # X-Subject-Token: "own", "ma", "new:own" or "new:ma"
    ok: int | None = None  # success status when it is not the route's default
    relogin: bool = False  # the call revokes the caller's tokens (password change)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def name(prefix: str = "x") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def auth_body(w: World, _caller: str) -> Any:
    return {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"id": w.users[MA], "password": "pw"}}}, "scope": "unscoped"}}


def own_password(_w: World, caller: str) -> Any:
    password = LOGINS[caller][1] if caller in LOGINS else "pw"
    return {"user": {"original_password": password, "password": password}}


def described(key: str) -> Body:
    return lambda _w, _c: {key: {"description": "protection"}}


def named(key: str, field_name: str = "name", prefix: str = "x") -> Body:
    return lambda _w, _c: {key: {field_name: name(prefix)}}


GRANT = "/v3/{targets:str}/{target_id}/{actors:str}/{actor_id}/roles/{role_id}"
GRANTS = "/v3/{targets:str}/{target_id}/{actors:str}/{actor_id}/roles"
SYSTEM_GRANT = "/v3/system/{actors:str}/{actor_id}/roles/{role_id}"
SYSTEM_GRANTS = "/v3/system/{actors:str}/{actor_id}/roles"
CREDS = "/v3/users/{user_id}/application_credentials"
CRED = CREDS + "/{credential_id}"
MEMBER = "/v3/groups/{group_id}/users/{user_id}"
IMPLIES = "/v3/roles/{prior_role_id}/implies/{implied_role_id}"
REG_LIMIT = "/v3/registered_limits/{registered_limit_id}"
LIMIT = "/v3/limits/{limit_id}"
RULES = "/v3/users/{user_id}/access_rules"
RULE = RULES + "/{access_rule_id}"
EGS = "/v3/OS-EP-FILTER/endpoint_groups"
EG = EGS + "/{group_id}"

ROWS: tuple[Row, ...] = (
    # -- discovery: no token needed --------------------------------------------
    Row("GET", "/", "/", EVERYONE, ok=300),
    Row("GET", "/v3", "/v3", EVERYONE),
    Row("GET", "/v3/", "/v3/", EVERYONE),
    Row("GET", "/v3/openapi.json", "/v3/openapi.json", EVERYONE),
    # -- tokens ------------------------------------------------------------------
    Row("POST", "/v3/auth/tokens", "/v3/auth/tokens", EVERYONE, body=auth_body),
    Row("GET", "/v3/auth/tokens", "/v3/auth/tokens", TOKEN_HOLDERS, subject="own"),
    Row("GET", "/v3/auth/tokens", "/v3/auth/tokens", only(ADMIN, MA), subject="ma"),
    Row("HEAD", "/v3/auth/tokens", "/v3/auth/tokens", TOKEN_HOLDERS, subject="own"),
    Row("HEAD", "/v3/auth/tokens", "/v3/auth/tokens", only(ADMIN, MA), subject="ma"),
    Row("DELETE", "/v3/auth/tokens", "/v3/auth/tokens", TOKEN_HOLDERS, subject="new:own"),
    Row("DELETE", "/v3/auth/tokens", "/v3/auth/tokens", only(ADMIN, MA), subject="new:ma"),
    Row("GET", "/v3/auth/catalog", "/v3/auth/catalog", TOKEN_HOLDERS),
    Row("GET", "/v3/auth/projects", "/v3/auth/projects", TOKEN_HOLDERS),
    Row("GET", "/v3/auth/domains", "/v3/auth/domains", TOKEN_HOLDERS),
    Row("GET", "/v3/auth/system", "/v3/auth/system", TOKEN_HOLDERS),
    # -- domains -----------------------------------------------------------------
    Row("POST", "/v3/domains", "/v3/domains", ONLY_ADMIN, body=named("domain")),
    Row("GET", "/v3/domains", "/v3/domains", ONLY_ADMIN),
    Row("GET", "/v3/domains/{domain_id}", "/v3/domains/default", TOKEN_HOLDERS),
    Row("GET", "/v3/domains/{domain_id}", "/v3/domains/{domain}", ONLY_ADMIN),
    Row("PATCH", "/v3/domains/{domain_id}", "/v3/domains/{domain}", ONLY_ADMIN,
        body=described("domain")),
    Row("DELETE", "/v3/domains/{domain_id}", "/v3/domains/{new:domain}", ONLY_ADMIN),
    # -- projects ----------------------------------------------------------------
    Row("POST", "/v3/projects", "/v3/projects", ONLY_ADMIN, body=named("project")),
    Row("GET", "/v3/projects", "/v3/projects", ONLY_ADMIN),
    Row("GET", "/v3/projects", "/v3/projects?name=a", ONLY_ADMIN),
    Row("GET", "/v3/projects/{project_id}", "/v3/projects/{a}", A_READERS),
    Row("GET", "/v3/projects/{project_id}", "/v3/projects/{b}", only(ADMIN, MB)),
    Row("PATCH", "/v3/projects/{project_id}", "/v3/projects/{a}", ONLY_ADMIN,
        body=described("project")),
    Row("DELETE", "/v3/projects/{project_id}", "/v3/projects/{a|new:project}", ONLY_ADMIN),
    Row("GET", "/v3/users/{user_id}/projects", "/v3/users/{self}/projects", TOKEN_HOLDERS),
    Row("GET", "/v3/users/{user_id}/projects", "/v3/users/{ma}/projects", only(ADMIN, MA)),
    # -- users -------------------------------------------------------------------
    Row("POST", "/v3/users", "/v3/users", ONLY_ADMIN, body=named("user")),
    Row("GET", "/v3/users", "/v3/users", ONLY_ADMIN),
    Row("GET", "/v3/users", "/v3/users?name=ma", A_ADMINS),
    Row("GET", "/v3/users/{user_id}", "/v3/users/{self}", TOKEN_HOLDERS),
    Row("GET", "/v3/users/{user_id}", "/v3/users/{ma}", only(ADMIN, MA)),
    Row("GET", "/v3/users/{user_id}", "/v3/users/{mb}", only(ADMIN, MB)),
    Row("PATCH", "/v3/users/{user_id}", "/v3/users/{self}", ONLY_ADMIN, body=described("user")),
    Row("PATCH", "/v3/users/{user_id}", "/v3/users/{ma}", ONLY_ADMIN, body=described("user")),
    Row("DELETE", "/v3/users/{user_id}", "/v3/users/{ma|new:user}", ONLY_ADMIN),
    Row("POST", "/v3/users/{user_id}/password", "/v3/users/{self}/password", TOKEN_HOLDERS,
        body=own_password, relogin=True),
    Row("POST", "/v3/users/{user_id}/password", "/v3/users/{ma}/password", only(MA),
        body=lambda _w, _c: {"user": {"original_password": "pw", "password": "pw"}},
        relogin=True),
    Row("GET", "/v3/users/{user_id}/groups", "/v3/users/{self}/groups", TOKEN_HOLDERS),
    Row("GET", "/v3/users/{user_id}/groups", "/v3/users/{ma}/groups", only(ADMIN, MA)),
    # -- groups ------------------------------------------------------------------
    Row("POST", "/v3/groups", "/v3/groups", ONLY_ADMIN, body=named("group")),
    Row("GET", "/v3/groups", "/v3/groups", ONLY_ADMIN),
    Row("GET", "/v3/groups/{group_id}", "/v3/groups/{group}", ONLY_ADMIN),
    Row("PATCH", "/v3/groups/{group_id}", "/v3/groups/{group}", ONLY_ADMIN,
        body=described("group")),
    Row("DELETE", "/v3/groups/{group_id}", "/v3/groups/{group|new:group}", ONLY_ADMIN),
    Row("GET", "/v3/groups/{group_id}/users", "/v3/groups/{group}/users", ONLY_ADMIN),
    Row("PUT", MEMBER, "/v3/groups/{new:group}/users/{ma}", ONLY_ADMIN),
    Row("GET", MEMBER, "/v3/groups/{group}/users/{ma}", ONLY_ADMIN),
    Row("HEAD", MEMBER, "/v3/groups/{group}/users/{ma}", ONLY_ADMIN),
    Row("DELETE", MEMBER, "/v3/groups/{group|new:group:ma}/users/{ma}", ONLY_ADMIN),
    # -- application credentials: the owner's --------------------------------------
    Row("POST", CREDS, "/v3/users/{self}/application_credentials", TOKEN_HOLDERS,
        body=named("application_credential")),
    Row("POST", CREDS, "/v3/users/{ma}/application_credentials", only(MA),
        body=named("application_credential")),
    Row("GET", CREDS, "/v3/users/{self}/application_credentials", TOKEN_HOLDERS),
    Row("GET", CREDS, "/v3/users/{ma}/application_credentials", only(ADMIN, MA)),
    Row("GET", CRED, "/v3/users/{self}/application_credentials/{cred:self}", TOKEN_HOLDERS),
    Row("GET", CRED, "/v3/users/{ma}/application_credentials/{cred:ma}", only(ADMIN, MA)),
    Row("DELETE", CRED, "/v3/users/{self}/application_credentials/{new:cred:self}",
        TOKEN_HOLDERS),
    Row("DELETE", CRED, "/v3/users/{ma}/application_credentials/{cred:ma|new:cred:ma}",
        only(ADMIN, MA)),
    # -- roles -------------------------------------------------------------------
    Row("POST", "/v3/roles", "/v3/roles", ONLY_ADMIN, body=named("role")),
    Row("GET", "/v3/roles", "/v3/roles", TOKEN_HOLDERS),
    Row("GET", "/v3/roles/{role_id}", "/v3/roles/{role:member}", TOKEN_HOLDERS),
    Row("PATCH", "/v3/roles/{role_id}", "/v3/roles/{new:role}", ONLY_ADMIN,
        body=described("role")),
    Row("DELETE", "/v3/roles/{role_id}", "/v3/roles/{role:reader|new:role}", ONLY_ADMIN),
    # -- grants on projects and domains --------------------------------------------
    Row("PUT", GRANT, "/v3/projects/{a}/users/{new:user}/roles/{role:member}", A_ADMINS),
    Row("PUT", GRANT, "/v3/projects/{a}/users/{new:user}/roles/{role:reader}", A_ADMINS),
    Row("PUT", GRANT, "/v3/projects/{a}/users/{self|new:user}/roles/{role:projectadmin}",
        A_ADMINS),
    Row("PUT", GRANT, "/v3/projects/{a}/users/{self|new:user}/roles/{role:admin}",
        ONLY_ADMIN),
    Row("PUT", GRANT, "/v3/projects/{a}/groups/{new:group}/roles/{role:member}", A_ADMINS),
    Row("PUT", GRANT, "/v3/projects/{b}/users/{self|new:user}/roles/{role:projectadmin}",
        ONLY_ADMIN),
    Row("PUT", GRANT, "/v3/domains/default/users/{new:user}/roles/{role:member}", ONLY_ADMIN),
    Row("GET", GRANT, "/v3/projects/{a}/users/{ma}/roles/{role:member}", A_READERS),
    Row("HEAD", GRANT, "/v3/projects/{a}/users/{ma}/roles/{role:member}", A_READERS),
    Row("GET", GRANT, "/v3/projects/{b}/users/{mb}/roles/{role:member}", only(ADMIN, MB)),
    Row("DELETE", GRANT, "/v3/projects/{a}/users/{ma|new:user:a=member}/roles/{role:member}",
        A_ADMINS),
    Row("DELETE", GRANT, "/v3/projects/{a}/users/{new:user:a=admin}/roles/{role:admin}",
        ONLY_ADMIN),
    Row("DELETE", GRANT, "/v3/projects/{b}/users/{mb|new:user:b=member}/roles/{role:member}",
        ONLY_ADMIN),
    Row("GET", GRANTS, "/v3/projects/{a}/users/{ma}/roles", A_READERS),
    Row("GET", GRANTS, "/v3/projects/{a}/groups/{group}/roles", A_READERS),
    Row("GET", GRANTS, "/v3/projects/{b}/users/{mb}/roles", only(ADMIN, MB)),
    Row("GET", GRANTS, "/v3/domains/default/users/{ma}/roles", ONLY_ADMIN),
    # -- grants on the system --------------------------------------------------------
    Row("PUT", SYSTEM_GRANT, "/v3/system/users/{self|new:user}/roles/{role:admin}",
        ONLY_ADMIN),
    Row("GET", SYSTEM_GRANT, "/v3/system/users/{admin}/roles/{role:admin}", ONLY_ADMIN),
    Row("HEAD", SYSTEM_GRANT, "/v3/system/users/{admin}/roles/{role:admin}", ONLY_ADMIN),
    Row("DELETE", SYSTEM_GRANT, "/v3/system/users/{new:user:system=reader}/roles/{role:reader}",
        ONLY_ADMIN),
    Row("GET", SYSTEM_GRANTS, "/v3/system/users/{admin}/roles", ONLY_ADMIN),
    # -- role assignments ------------------------------------------------------------
    Row("GET", "/v3/role_assignments", "/v3/role_assignments", ONLY_ADMIN),
    Row("GET", "/v3/role_assignments", "/v3/role_assignments?scope.project.id={a}", A_READERS),
    Row("GET", "/v3/role_assignments",
        "/v3/role_assignments?scope.project.id={a}&effective&include_names", A_READERS),
    Row("GET", "/v3/role_assignments", "/v3/role_assignments?scope.project.id={b}",
        only(ADMIN, MB)),
    Row("GET", "/v3/role_assignments", "/v3/role_assignments?user.id={self}", TOKEN_HOLDERS),
    Row("GET", "/v3/role_assignments", "/v3/role_assignments?user.id={ma}", only(ADMIN, MA)),
    Row("GET", "/v3/role_assignments",
        "/v3/role_assignments?user.id={ma}&scope.project.id={a}", A_READERS),
    Row("GET", "/v3/role_assignments", "/v3/role_assignments?scope.domain.id=default",
        ONLY_ADMIN),
    Row("GET", "/v3/role_assignments", "/v3/role_assignments?scope.system=all", ONLY_ADMIN),
    # -- role inference rules ------------------------------------------------------
    Row("PUT", IMPLIES, "/v3/roles/{new:role}/implies/{new:role}", ONLY_ADMIN, ok=201),
    Row("GET", IMPLIES, "/v3/roles/{role:admin}/implies/{role:member}", ONLY_ADMIN),
    Row("HEAD", IMPLIES, "/v3/roles/{role:admin}/implies/{role:member}", ONLY_ADMIN),
    Row("DELETE", IMPLIES, "/v3/roles/{role:member}/implies/{role:reader|new:implied}",
        ONLY_ADMIN),
    Row("GET", "/v3/roles/{prior_role_id}/implies", "/v3/roles/{role:admin}/implies",
        ONLY_ADMIN),
    Row("GET", "/v3/role_inferences", "/v3/role_inferences", ONLY_ADMIN),
    # -- unified limits: registered ones are the admin's; a project reads its own -----
    Row("POST", "/v3/registered_limits", "/v3/registered_limits", ONLY_ADMIN,
        body=lambda w, _c: {"registered_limits": [{"service_id": w.service,
                                                   "resource_name": name("r"),
                                                   "default_limit": 5}]}),
    Row("GET", "/v3/registered_limits", "/v3/registered_limits", TOKEN_HOLDERS),
    Row("GET", REG_LIMIT, "/v3/registered_limits/{reglimit}", TOKEN_HOLDERS),
    Row("PATCH", REG_LIMIT, "/v3/registered_limits/{reglimit}", ONLY_ADMIN,
        body=lambda _w, _c: {"registered_limit": {"default_limit": 7}}),
    Row("DELETE", REG_LIMIT, "/v3/registered_limits/{reglimit|new:reglimit}", ONLY_ADMIN),
    Row("POST", "/v3/limits", "/v3/limits", ONLY_ADMIN,
        body=lambda w, _c: {"limits": [{"project_id": w.projects["a"],
                                        "service_id": w.service,
                                        "resource_name": w.new_registered_limit(),
                                        "resource_limit": 3}]}),
    Row("GET", "/v3/limits", "/v3/limits", TOKEN_HOLDERS),
    Row("GET", "/v3/limits/model", "/v3/limits/model", TOKEN_HOLDERS),
    Row("GET", LIMIT, "/v3/limits/{limit:a}", A_READERS),
    Row("GET", LIMIT, "/v3/limits/{limit:b}", only(ADMIN, MB)),
    Row("PATCH", LIMIT, "/v3/limits/{limit:a}", ONLY_ADMIN,
        body=lambda _w, _c: {"limit": {"resource_limit": 4}}),
    Row("DELETE", LIMIT, "/v3/limits/{limit:a|new:limit}", ONLY_ADMIN),
    # -- access rules of application credentials: the owner's -------------------------
    Row("GET", RULES, "/v3/users/{self}/access_rules", TOKEN_HOLDERS),
    Row("GET", RULES, "/v3/users/{ma}/access_rules", only(ADMIN, MA)),
    Row("GET", RULE, "/v3/users/{ma}/access_rules/{rule:ma}", only(ADMIN, MA)),
    Row("DELETE", RULE, "/v3/users/{ma}/access_rules/{rule:ma|new:rule}", only(ADMIN, MA)),
    # -- catalog -----------------------------------------------------------------
    Row("POST", "/v3/regions", "/v3/regions", ONLY_ADMIN, body=named("region", "id")),
    Row("GET", "/v3/regions", "/v3/regions", TOKEN_HOLDERS),
    Row("GET", "/v3/regions/{region_id}", "/v3/regions/RegionOne", TOKEN_HOLDERS),
    Row("PATCH", "/v3/regions/{region_id}", "/v3/regions/RegionOne", ONLY_ADMIN,
        body=described("region")),
    Row("DELETE", "/v3/regions/{region_id}", "/v3/regions/{new:region}", ONLY_ADMIN),
    Row("POST", "/v3/services", "/v3/services", ONLY_ADMIN, body=named("service", "type")),
    Row("GET", "/v3/services", "/v3/services", TOKEN_HOLDERS),
    Row("GET", "/v3/services/{service_id}", "/v3/services/{service}", TOKEN_HOLDERS),
    Row("PATCH", "/v3/services/{service_id}", "/v3/services/{service}", ONLY_ADMIN,
        body=described("service")),
    Row("DELETE", "/v3/services/{service_id}", "/v3/services/{service|new:service}",
        ONLY_ADMIN),
    Row("POST", "/v3/endpoints", "/v3/endpoints", ONLY_ADMIN,
        body=lambda w, _c: {"endpoint": {"service_id": w.service, "interface": "internal",
                                         "url": "http://protection.example/x"}}),
    Row("GET", "/v3/endpoints", "/v3/endpoints", TOKEN_HOLDERS),
    Row("GET", "/v3/endpoints/{endpoint_id}", "/v3/endpoints/{endpoint}", TOKEN_HOLDERS),
    Row("PATCH", "/v3/endpoints/{endpoint_id}", "/v3/endpoints/{endpoint}", ONLY_ADMIN,
        body=lambda _w, _c: {"endpoint": {"enabled": True}}),
    Row("DELETE", "/v3/endpoints/{endpoint_id}", "/v3/endpoints/{endpoint|new:endpoint}",
        ONLY_ADMIN),
    # -- endpoint groups, policy blobs -------------------------------------------
    Row("POST", EGS, EGS, ONLY_ADMIN, body=lambda _w, _c: {"endpoint_group": {
        "name": name("eg"), "filters": {"interface": "public"}}}),
    Row("GET", EGS, EGS, ONLY_ADMIN),
    Row("GET", EG, EGS + "/{new:egroup}", ONLY_ADMIN),
    Row("PATCH", EG, EGS + "/{new:egroup}", ONLY_ADMIN, body=described("endpoint_group")),
    Row("DELETE", EG, EGS + "/{new:egroup}", ONLY_ADMIN),
    Row("GET", EG + "/endpoints", EGS + "/{new:egroup}/endpoints", ONLY_ADMIN),
    Row("GET", EG + "/projects", EGS + "/{new:egroup}/projects", ONLY_ADMIN),
    Row("PUT", EG + "/projects/{project_id}", EGS + "/{new:egroup}/projects/{a}", ONLY_ADMIN),
    Row("GET", EG + "/projects/{project_id}", EGS + "/{new:egroupa}/projects/{a}",
        ONLY_ADMIN),
    Row("DELETE", EG + "/projects/{project_id}", EGS + "/{new:egroupa}/projects/{a}",
        ONLY_ADMIN),
    Row("GET", "/v3/OS-EP-FILTER/projects/{project_id}/endpoint_groups",
        "/v3/OS-EP-FILTER/projects/{a}/endpoint_groups", ONLY_ADMIN),
    Row("POST", "/v3/policies", "/v3/policies", ONLY_ADMIN,
        body=lambda _w, _c: {"policy": {"blob": "{}", "type": "application/json"}}),
    Row("GET", "/v3/policies", "/v3/policies", ONLY_ADMIN),
    Row("GET", "/v3/policies/{policy_id}", "/v3/policies/{new:policy}", ONLY_ADMIN),
    Row("PATCH", "/v3/policies/{policy_id}", "/v3/policies/{new:policy}", ONLY_ADMIN,
        body=lambda _w, _c: {"policy": {"blob": "[]"}}),
    Row("DELETE", "/v3/policies/{policy_id}", "/v3/policies/{new:policy}", ONLY_ADMIN),
)
ROWS += protection_delegation.rows(Row)


@dataclass
class World:
    """Projects A and B, a user per caller, and what the rows point at."""

    cloud: Cloud
    projects: dict[str, str]  # "a", "b", "admin" -> id
    users: dict[str, str]  # caller -> user id
    roles: dict[str, str]  # role name -> id
    group: str  # a group with ma in it
    domain: str  # a domain besides the default one
    service: str
    endpoint: str
    creds: dict[str, str] = field(default_factory=dict)  # caller -> an application credential
    extra: dict[str, str] = field(default_factory=dict)  # what protection_delegation made
    reglimit: str = ""  # a registered limit of the service, with limits on A and B
    limits: dict[str, str] = field(default_factory=dict)  # "a", "b" -> a limit
    rules: dict[str, str] = field(default_factory=dict)  # caller -> an access rule of theirs

    @property
    def identity(self) -> IdentityService:
        return self.cloud.identity

    @staticmethod
    def who(caller: str) -> str:
        """The user a caller acts as; ``anon`` reaches for ma's things."""
        return MA if caller == ANON else caller

    def token(self, caller: str) -> str | None:
        if caller == ANON:
            return None
        user, password, project = LOGINS[caller]
        return self.cloud.token(user, password, project)

    def relogin(self) -> None:
        """Forget the tokens: a password change revoked its owner's."""
        self.cloud._tokens.clear()

    def new_token(self, caller: str) -> str:
        """Another token of the caller's, rescoped from theirs (no password hashing)."""
        who = self.who(caller)
        return self.identity.tokens.issue({
            "identity": {"methods": ["token"], "token": {"id": self.token(who)}},
            "scope": {"project": {"id": self.projects[LOGINS[who][2]]}}}).token

    # -- fresh targets ------------------------------------------------------------
    def new_user(self, grants: str = "") -> str:
        user = self.identity.users.create_user({"name": name("u")}, "default").id
        if grants:
            target, role = grants.split("=")
            kind, target_id = ((models.TARGET_SYSTEM, models.SYSTEM_ID) if target == "system"
                               else (models.TARGET_PROJECT, self.projects[target]))
            self.identity.assignments.create_grant(
                Grant(self.roles[role], models.ACTOR_USER, user, kind, target_id))
        return user

    def new_group(self, member: str = "") -> str:
        group = self.identity.users.create_group({"name": name("g")}, "default").id
        if member:
            self.identity.users.add_user_to_group(self.users[member], group)
        return group

    def new_cred(self, owner: str) -> str:
        project = self.projects[LOGINS[owner][2]]
        return self.identity.app_credentials.create(
            self.users[owner], project, list(self.roles.values()), {"name": name("c")}).row.id

    def new_registered_limit(self) -> str:
        resource = name("r")
        self.identity.limits.create_registered([{"service_id": self.service,
                                                 "resource_name": resource,
                                                 "default_limit": 1}])
        return resource

    def new_limit(self) -> str:
        return self.identity.limits.create([{
            "project_id": self.projects["a"], "service_id": self.service,
            "resource_name": self.new_registered_limit(), "resource_limit": 2}])[0].row.id

    def new_rule(self, owner: str) -> str:
        """An access rule of ``owner``'s, on a credential that is then deleted."""
        project = self.projects[LOGINS[owner][2]]
        new = self.identity.app_credentials.create(
            self.users[owner], project, list(self.roles.values()), {
                "name": name("c"), "access_rules": [
                    {"service": "compute", "method": "GET", "path": f"/{name('p')}"}]})
        self.identity.app_credentials.delete(self.users[owner], new.row.id)
        return new.access_rules[0].id

    def new_endpoint_group(self, project: str | None = None) -> str:
        groups = self.identity.endpoint_groups
        group_id = groups.create({"name": name("eg"), "filters": {"interface": "public"}}).id
        if project:
            groups.associate(group_id, project)
        return group_id

    def resolve(self, key: str, caller: str, allowed: bool) -> str:
        if "|" in key:
            real, stand_in = key.split("|")
            key = stand_in if allowed else real
        me = self.who(caller)
        kind, _, arg = key.partition(":")
        simple = {"self": self.users[me], **self.users, "a": self.projects["a"],
                  "b": self.projects["b"], "group": self.group, "domain": self.domain,
                  "service": self.service, "endpoint": self.endpoint}
        if key in simple:
            return simple[key]
        if kind == "role":
            return self.roles[arg]
        if kind == "cred":
            return self.creds[me if arg == "self" else arg]
        if (found := protection_delegation.resolve(self, key, me)) is not None:
            return found
        if kind == "limit":
            return self.limits[arg]
        if kind == "rule":
            return self.rules[arg]
        if key == "reglimit":
            return self.reglimit
        made: dict[str, Callable[[], str]] = {
            "project": lambda: self.identity.resources.create_project(
                {"name": name("p")}, "default").id,
            "user": lambda: self.new_user(arg.partition(":")[2]),
            "group": lambda: self.new_group(arg.partition(":")[2]),
            "cred": lambda: self.new_cred(me if arg.endswith("self") else MA),
            "domain": lambda: self.identity.resources.create_domain(name("d"),
                                                                   enabled=False).id,
            "role": lambda: self.identity.assignments.create_role(name("r")).id,
            "implied": lambda: self.identity.implied_roles.create(
                self.roles["member"], self.identity.assignments.create_role(name("r")).id)[1].id,
            "reglimit": lambda: self.identity.limits.list_registered(LimitFilter(
                resource_name=self.new_registered_limit()))[0].id,
            "limit": self.new_limit,
            "rule": lambda: self.new_rule(MA),
            "region": lambda: self.identity.catalog.create_region({"id": name("rg")}).id,
            "service": lambda: self.identity.catalog.create_service({"type": name("s")}).id,
            "endpoint": lambda: self.identity.catalog.create_endpoint({
                "service_id": self.service, "interface": "admin",
                "url": "http://protection.example/new"}).id,
            "egroup": self.new_endpoint_group,
            "egroupa": lambda: self.new_endpoint_group(self.projects["a"]),
            "policy": lambda: self.identity.policy_blobs.create({
                "blob": "{}", "type": "application/json"}).id,
        }
        assert kind == "new", f"unknown placeholder {key}"
        return made[arg.partition(":")[0]]()

    def request(self, row: Row, caller: str) -> tuple[str, httpx.Response]:
        allowed = caller in row.allowed
        path = re.sub(r"\{([^}]+)\}", lambda m: self.resolve(m.group(1), caller, allowed),
                      row.path)
        headers = self.cloud.headers(self.token(caller))
        if row.subject is not None:
            whose = self.who(caller) if row.subject.endswith("own") else MA
            subject = (self.new_token(whose) if row.subject.startswith("new:")
                       else self.token(whose))
            assert subject is not None
            headers["X-Subject-Token"] = subject
        body = row.body(self, caller) if row.body is not None else None
        resp = self.cloud.client.request(row.method, V3.removesuffix("/v3") + path,
                                         headers=headers, json=body)
        if row.relogin and resp.is_success:
            self.relogin()
        return path, resp


def make_world(cloud: Cloud) -> World:
    projects = {"a": cloud.project("a"), "b": cloud.project("b"),
                "admin": cloud.identity.resources.list_projects(ProjectFilter(name="admin"))[0].id}
    users = {caller: cloud.user(caller, "pw", {project: role})
             for caller, (project, role) in ROLE_ON.items()}
    users[ADMIN] = cloud.identity.tokens.validate(cloud.admin_token()).user.id
    roles = {r.name: r.id for r in cloud.identity.assignments.list_roles()}
    catalog = cloud.identity.catalog
    service = catalog.create_service({"type": "protection"}).id
    world = World(
        cloud, projects, users, roles,
        group="", domain=cloud.identity.resources.create_domain("protection").id,
        service=service,
        endpoint=catalog.create_endpoint({"service_id": service, "interface": "public",
                                          "url": "http://protection.example"}).id)
    world.group = world.new_group(MA)
    world.creds = {caller: world.new_cred(caller) for caller in (ADMIN, PA, MA, RA, MB)}
    limits = cloud.identity.limits
    resource = world.new_registered_limit()
    world.reglimit = limits.list_registered(LimitFilter(resource_name=resource))[0].id
    world.limits = {p: limits.create([{"project_id": projects[p], "service_id": service,
                                       "resource_name": resource, "resource_limit": 9}])[0].row.id
                    for p in ("a", "b")}
    world.rules = {MA: world.new_rule(MA)}
    return world


@pytest.fixture
def world(cloud: Cloud) -> World:
    return make_world(cloud)


def error_shape_problem(resp: httpx.Response, code: int) -> str | None:
    if resp.request.method == "HEAD":
        return None
    try:
        error = resp.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"body is not an error: {resp.text[:200]}"
    if error.get("code") != code or not error.get("title") or not error.get("message"):
        return f"bad error body: {resp.text[:200]}"
    return None


# -- the matrix ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], int]:
    """(method, path) -> success status of every route on the identity Api."""
    tmp = tmp_path_factory.mktemp("routes")
    identity = new_identity(Database(f"sqlite:///{tmp / 'routes.db'}"), IdentityOptions(), tmp)
    return {(ep.method, ep.path): ep.status for ep in build_api(identity).endpoints}


def test_every_route_has_a_protection_row(routes: dict[tuple[str, str], int]) -> None:
    covered = {(row.method, row.route) for row in ROWS}
    assert not routes.keys() - covered, \
        f"routes with no protection row: {sorted(routes.keys() - covered)}"
    assert not covered - routes.keys(), f"rows naming no route: {sorted(covered - routes.keys())}"


def test_rows_reach_the_route_they_name() -> None:
    for row in ROWS:
        path = re.sub(r"\{[^}]+\}", "id0", row.path).partition("?")[0]
        assert compile_path(row.route)[0].match(path), f"{row} is not served by {row.route}"


def test_protection_matrix(world: World, routes: dict[tuple[str, str], int]) -> None:
    """Every row, every caller: allowed -> the route's 2xx, denied -> 403, no token -> 401."""
    problems: list[str] = []
    for caller in CALLERS:
        for row in ROWS:
            try:
                path, resp = world.request(row, caller)
            except Exception as exc:  # an earlier hole broke the world: say so, go on
                problems.append(f"{caller} {row}: {type(exc).__name__}: {exc}")
                continue
            if caller in row.allowed:
                expected = row.ok or routes[(row.method, row.route)]
            else:
                expected = 401 if caller == ANON else 403
            if resp.status_code != expected:
                problems.append(f"{caller} {row.method} {path} ({row}): {resp.status_code}, "
                                f"expected {expected}: {resp.text[:200]}")
            elif expected >= 400 and (problem := error_shape_problem(resp, expected)):
                problems.append(f"{caller} {row.method} {path}: {problem}")
    assert not problems, "\n".join(problems)


def test_no_token_or_a_bad_one_is_401_before_anything_is_looked_up(
        world: World, routes: dict[tuple[str, str], int]) -> None:
    """Ids that do not exist must not turn a missing token into a 404."""
    public = {(row.method, row.route) for row in ROWS if ANON in row.allowed}
    # a body that passes the route's schema (a body is validated before the token is read)
    bodies = {(row.method, row.route): row.body(world, ANON) for row in reversed(ROWS)
              if row.body is not None}
    fill = {"targets": "projects", "actors": "users"}
    problems = []
    for method, route in sorted(routes.keys() - public):
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: fill.get(m.group(1), "nonexistent"), route)
        body = bodies.get((method, route))
        for headers in ({}, {"X-Auth-Token": "not-a-token"}):
            resp = world.cloud.client.request(method, "/identity" + path, headers=headers,
                                              json=body)
            if resp.status_code != 401:
                problems.append(f"{method} {path} {headers}: {resp.status_code} {resp.text[:150]}")
    assert not problems, "\n".join(problems)


# -- isolation: a member of B and project A ------------------------------------------


def get(world: World, caller: str, path: str) -> httpx.Response:
    return world.cloud.client.get(V3 + path, headers=world.cloud.headers(world.token(caller)))


def test_member_of_b_cannot_list_assignments_of_a(world: World) -> None:
    a, ma = world.projects["a"], world.users[MA]
    for query in (f"scope.project.id={a}", f"scope.project.id={a}&effective",
                  f"scope.project.id={a}&include_names", f"user.id={ma}",
                  f"user.id={ma}&scope.project.id={a}", f"user.id={ma}&effective"):
        resp = get(world, MB, f"/role_assignments?{query}")
        assert resp.status_code == 403, (query, resp.text)
        assert a not in resp.text and ma not in resp.text
    for path in (f"/projects/{a}/users/{ma}/roles",
                 f"/projects/{a}/users/{ma}/roles/{world.roles['member']}",
                 f"/projects/{a}/groups/{world.group}/roles"):
        assert get(world, MB, path).status_code == 403, path
    # their own assignments are theirs to see, and they are on B only
    resp = get(world, MB, f"/role_assignments?user.id={world.users[MB]}&include_names")
    assert resp.status_code == 200
    assert {ra["scope"]["project"]["name"] for ra in resp.json()["role_assignments"]} == {"b"}


def test_own_user_id_does_not_unlock_a_group_s_assignments(world: World) -> None:
    """``user.id=<me>&group.id=<G>`` would list G's grants on A under the owner rule."""
    a = world.projects["a"]
    world.identity.assignments.create_grant(Grant(world.roles["member"], models.ACTOR_GROUP,
                                                  world.group, models.TARGET_PROJECT, a))
    for caller in (MB, ADMIN):
        resp = get(world, caller, f"/role_assignments?user.id={world.users[MB]}"
                                  f"&group.id={world.group}")
        assert resp.status_code == 400, resp.text
        assert a not in resp.text and not error_shape_problem(resp, 400)
    # the group's grants stay visible to those who may read A
    resp = get(world, RA, f"/role_assignments?scope.project.id={a}&group.id={world.group}")
    assert [ra["group"]["id"] for ra in resp.json()["role_assignments"]] == [world.group]


def test_member_of_b_cannot_get_a_user_of_a(world: World) -> None:
    ma = world.users[MA]
    for path in (f"/users/{ma}", f"/users/{ma}/projects", f"/users/{ma}/groups",
                 "/users?name=ma", "/users"):
        resp = get(world, MB, path)
        assert resp.status_code == 403, (path, resp.text)
        assert ma not in resp.text and not error_shape_problem(resp, 403)


def test_member_of_b_cannot_touch_application_credentials_of_a_user_of_a(world: World) -> None:
    ma, cred = world.users[MA], world.creds[MA]
    h = world.cloud.headers(world.token(MB))
    base = f"{V3}/users/{ma}/application_credentials"
    client = world.cloud.client
    for resp in (client.get(base, headers=h), client.get(f"{base}/{cred}", headers=h),
                 client.delete(f"{base}/{cred}", headers=h),
                 client.post(base, headers=h, json={"application_credential": {"name": "x"}})):
        assert resp.status_code == 403, resp.text
        assert cred not in resp.text and not error_shape_problem(resp, 403)
    # nothing happened to it
    resp = get(world, MA, f"/users/{ma}/application_credentials")
    assert [c["id"] for c in resp.json()["application_credentials"]] == [cred]


def test_auth_projects_of_a_member_of_b_lists_only_b(world: World) -> None:
    resp = get(world, MB, "/auth/projects")
    assert resp.status_code == 200
    assert [(p["id"], p["name"]) for p in resp.json()["projects"]] == [
        (world.projects["b"], "b")]
    resp = get(world, MA, "/auth/projects")
    assert [p["name"] for p in resp.json()["projects"]] == ["a"]
