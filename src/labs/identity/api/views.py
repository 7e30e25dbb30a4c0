"""How identity objects look on the wire (Keystone v3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from labs.common.http import Call
from labs.identity import models
from labs.identity.assignments import Grant
from labs.identity.backends.base import GroupRecord, UserRecord
from labs.identity.catalog import CatalogEntry
from labs.identity.validated import ValidatedToken

Body = dict[str, Any]


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def links(call: Call, path: str) -> Body:
    return {"self": call.url(path)}


def collection(call: Call, key: str, items: list[Body]) -> Body:
    return {key: items, "links": {"self": str(call.request.url), "previous": None, "next": None}}


def domain(call: Call, row: models.Domain) -> Body:
    return {"id": row.id, "name": row.name, "description": row.description,
            "enabled": row.enabled, "tags": [], "options": {},
            "links": links(call, f"/v3/domains/{row.id}")}


def project(call: Call, row: models.Project) -> Body:
    # extra fields first: they never stand in for the ones the API owns
    return {**(row.extra or {}), "id": row.id, "name": row.name, "domain_id": row.domain_id,
            "description": row.description, "enabled": row.enabled,
            "parent_id": row.parent_id or row.domain_id, "is_domain": False,
            "tags": list(row.tags or []), "options": {},
            "links": links(call, f"/v3/projects/{row.id}")}


def user(call: Call, record: UserRecord) -> Body:
    body: Body = {"id": record.id, "name": record.name, "domain_id": record.domain_id,
                  "enabled": record.enabled, "password_expires_at": None, "options": {},
                  "links": links(call, f"/v3/users/{record.id}")}
    if record.default_project_id:
        body["default_project_id"] = record.default_project_id
    if record.posix is not None:
        body.update(shell_name=record.posix.shell_name, uid_number=record.posix.uid_number,
                    gid_number=record.posix.gid_number)
    body.update({k: v for k, v in record.extra.items() if k not in body})
    return body


def group(call: Call, record: GroupRecord) -> Body:
    return {"id": record.id, "name": record.name, "domain_id": record.domain_id,
            "description": record.description, "links": links(call, f"/v3/groups/{record.id}")}


def role(call: Call, row: models.Role) -> Body:
    return {"id": row.id, "name": row.name, "domain_id": None, "description": row.description,
            "options": {}, "links": links(call, f"/v3/roles/{row.id}")}


def region(call: Call, row: models.Region) -> Body:
    return {"id": row.id, "description": row.description,
            "parent_region_id": row.parent_region_id,
            "links": links(call, f"/v3/regions/{row.id}")}


def service(call: Call, row: models.CatalogService) -> Body:
    return {"id": row.id, "type": row.type, "name": row.name, "description": row.description,
            "enabled": row.enabled, "links": links(call, f"/v3/services/{row.id}")}


def endpoint(call: Call, row: models.Endpoint) -> Body:
    return {"id": row.id, "service_id": row.service_id, "interface": row.interface,
            "url": row.url, "region_id": row.region_id, "region": row.region_id,
            "enabled": row.enabled, "links": links(call, f"/v3/endpoints/{row.id}")}


def catalog(entries: tuple[CatalogEntry, ...] | list[CatalogEntry]) -> list[Body]:
    return [{"id": e.id, "type": e.type, "name": e.name, "endpoints": [
        {"id": ep.id, "interface": ep.interface, "region": ep.region_id,
         "region_id": ep.region_id, "url": ep.url} for ep in e.endpoints]} for e in entries]


def access_rule(call: Call, row: models.AccessRule, with_links: bool = True) -> Body:
    body: Body = {"id": row.id, "service": row.service, "path": row.path, "method": row.method}
    if with_links:
        body["links"] = links(call, f"/v3/users/{row.user_id}/access_rules/{row.id}")
    return body


def app_credential(call: Call, row: models.ApplicationCredential, roles: dict[str, str],
                   secret: str | None = None,
                   rules: list[models.AccessRule] | None = None) -> Body:
    body: Body = {
        "id": row.id, "name": row.name, "description": row.description,
        "user_id": row.user_id, "project_id": row.project_id,
        "expires_at": timestamp(row.expires_at) if row.expires_at else None,
        "unrestricted": row.unrestricted,
        "access_rules": [access_rule(call, r, with_links=False) for r in rules or ()],
        "roles": [{"id": rid, "name": roles.get(rid, ""), "domain_id": None}
                  for rid in row.role_ids],
        "links": links(call, f"/v3/users/{row.user_id}/application_credentials/{row.id}")}
    if secret is not None:
        body["secret"] = secret
    return body


def token(held: ValidatedToken, nocatalog: bool = False) -> Body:
    p = held.payload
    body: Body = {
        "methods": list(p.methods),
        "user": {"id": held.user.id, "name": held.user.name,
                 "domain": {"id": held.user_domain.id, "name": held.user_domain.name},
                 "password_expires_at": None},
        # as Keystone shows them: the token's own id and the first of its chain
        "audit_ids": list(dict.fromkeys((p.audit_ids[0], p.audit_ids[-1]))),
        "expires_at": timestamp(p.expires_at), "issued_at": timestamp(p.issued_at),
    }
    if held.project is not None and held.project_domain is not None:
        body["project"] = {"id": held.project.id, "name": held.project.name,
                           "domain": {"id": held.project_domain.id,
                                      "name": held.project_domain.name}}
        body["is_domain"] = False
    elif held.domain is not None:
        body["domain"] = {"id": held.domain.id, "name": held.domain.name}
    elif p.system:
        body["system"] = {"all": True}
    if held.roles:
        body["roles"] = [{"id": rid, "name": name} for rid, name in held.roles]
    if held.application_credential is not None:
        ac = held.application_credential
        body["application_credential"] = {"id": ac.id, "name": ac.name,
                                          "restricted": not ac.unrestricted}
        if held.access_rules is not None:
            body["application_credential"]["access_rules"] = [
                {"service": r.service, "method": r.method, "path": r.path}
                for r in held.access_rules]
    if held.trust is not None:
        body["OS-TRUST:trust"] = {"id": held.trust.id, "impersonation": held.trust.impersonation,
                                  "trustor_user": {"id": held.trust.trustor_user_id},
                                  "trustee_user": {"id": held.trust.trustee_user_id}}
    if body.get("roles") and not nocatalog:
        body["catalog"] = catalog(held.catalog)
    return {"token": body}


def assignment(call: Call, grant: Grant, names: dict[Any, Any] | None) -> Body:
    actor_key = "user" if grant.actor_type == models.ACTOR_USER else "group"
    scope: Body
    if grant.target_type == models.TARGET_SYSTEM:
        scope = {"system": {"all": True}}
        target_path = "/v3/system"
    else:
        scope = {grant.target_type: {"id": grant.target_id}}
        target_path = f"/v3/{grant.target_type}s/{grant.target_id}"
    body: Body = {"role": {"id": grant.role_id}, actor_key: {"id": grant.actor_id},
                  "scope": scope}
    via = f"/groups/{grant.via_group}" if grant.via_group else f"/{actor_key}s/{grant.actor_id}"
    body["links"] = {"assignment": call.url(f"{target_path}{via}/roles/{grant.role_id}")}
    if grant.prior_role_id:
        body["links"]["assignment"] = call.url(f"{target_path}{via}/roles/{grant.prior_role_id}")
        body["links"]["prior_role"] = call.url(f"/v3/roles/{grant.prior_role_id}")
    if grant.via_group:
        body["links"]["membership"] = call.url(
            f"/v3/groups/{grant.via_group}/users/{grant.actor_id}")
    if names is not None:
        body["role"]["name"] = names.get(("role", grant.role_id), "")
        actor = names.get((actor_key, grant.actor_id))
        if actor is not None:
            body[actor_key].update({"name": actor[0], "domain": actor[1]})
        target = names.get((grant.target_type, grant.target_id))
        if target is not None:
            body["scope"][grant.target_type].update(target)
    return body
