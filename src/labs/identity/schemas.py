"""JSON schemas of identity request bodies (what the API accepts, nothing looser)."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_name: Schema = {"type": "string", "minLength": 1, "maxLength": 255}
_id: Schema = {"type": "string", "minLength": 1, "maxLength": 64}
_description: Schema = {"type": ["string", "null"], "maxLength": 65535}
_enabled: Schema = {"type": "boolean"}
_ref: Schema = {"type": "object", "properties": {"id": _id, "name": _name}}


def _wrap(key: str, body: Schema, required: list[str] | None = None) -> Schema:
    body = {**body, "type": "object"}
    if required:
        body["required"] = required
    return {"type": "object", "properties": {key: body}, "required": [key]}


_project: Schema = {"properties": {
    "name": _name, "domain_id": _id, "description": _description, "enabled": _enabled,
    "parent_id": {"type": ["string", "null"], "maxLength": 64}, "is_domain": {"const": False},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}, "maxItems": 80},
    "options": {"type": "object"}, "extra": {"type": "object"}}}
project_create = _wrap("project", _project, ["name"])
project_update = _wrap("project", {**_project, "minProperties": 1})

_domain: Schema = {"properties": {"name": _name, "description": _description,
                                  "enabled": _enabled, "options": {"type": "object"}}}
domain_create = _wrap("domain", _domain, ["name"])
domain_update = _wrap("domain", {**_domain, "minProperties": 1})

_password: Schema = {"type": ["string", "null"], "minLength": 1}
_user: Schema = {"properties": {
    "name": _name, "domain_id": _id, "enabled": _enabled, "password": _password,
    "default_project_id": {"type": ["string", "null"], "maxLength": 64},
    "email": {"type": ["string", "null"], "maxLength": 255}, "description": _description,
    "options": {"type": "object"},
    # checked by the service, which says what a shell name must be (and 400 on update)
    "shell_name": {"type": "string", "maxLength": 255}}}
user_create = _wrap("user", _user, ["name"])
user_update = _wrap("user", _user)
password_change = _wrap("user", {"properties": {"password": {"type": "string", "minLength": 1},
                                                "original_password": {"type": "string"}}},
                        ["password", "original_password"])

_group: Schema = {"properties": {"name": _name, "domain_id": _id,
                                 "description": _description}}
group_create = _wrap("group", _group, ["name"])
group_update = _wrap("group", _group)

_role: Schema = {"properties": {"name": _name, "description": _description,
                                "options": {"type": "object"}}}
role_create = _wrap("role", _role, ["name"])
role_update = _wrap("role", _role)

_region: Schema = {"properties": {"id": _id, "description": _description,
                                  "parent_region_id": {"type": ["string", "null"]}}}
region_create = _wrap("region", _region)
region_update = _wrap("region", _region)

_service: Schema = {"properties": {"type": _name, "name": _name, "description": _description,
                                   "enabled": _enabled}}
service_create = _wrap("service", _service, ["type"])
service_update = _wrap("service", _service)

_endpoint: Schema = {"properties": {
    "service_id": _id, "interface": {"enum": ["public", "internal", "admin"]},
    "url": {"type": "string", "minLength": 1, "maxLength": 2048, "pattern": "^[a-zA-Z]+://"},
    "region_id": {"type": ["string", "null"]}, "region": {"type": ["string", "null"]},
    "enabled": _enabled}}
endpoint_create = _wrap("endpoint", _endpoint, ["service_id", "interface", "url"])
endpoint_update = _wrap("endpoint", _endpoint)

# -- access rules of application credentials -------------------------------------------
ACCESS_RULE_METHODS = ("HEAD", "GET", "POST", "PUT", "PATCH", "DELETE")
access_rule: Schema = {"type": "object", "additionalProperties": False, "properties": {
    "id": _id,
    "service": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$", "maxLength": 64},
    "path": {"type": "string", "pattern": "^/[A-Za-z0-9._~!$&'()*+,;=:@%/{}-]*$",
             "maxLength": 255},
    "method": {"enum": list(ACCESS_RULE_METHODS)}},
    "anyOf": [{"required": ["id"]}, {"required": ["service", "path", "method"]}]}

app_credential_create = _wrap("application_credential", {"properties": {
    "name": _name, "description": _description, "secret": {"type": ["string", "null"]},
    "expires_at": {"type": ["string", "null"]}, "unrestricted": {"type": "boolean"},
    "roles": {"type": "array", "items": _ref, "maxItems": 100},
    "access_rules": {"type": "array", "items": access_rule, "maxItems": 100}}}, ["name"])

_user_ref: Schema = {"type": "object", "properties": {
    "id": _id, "name": _name, "domain": _ref, "password": {"type": "string"}}}
auth: Schema = {"type": "object", "required": ["auth"], "properties": {"auth": {
    "type": "object", "required": ["identity"], "properties": {
        "identity": {"type": "object", "required": ["methods"], "properties": {
            "methods": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "password": {"type": "object", "required": ["user"], "properties": {
                "user": {**_user_ref, "required": ["password"]}}},
            "token": {"type": "object", "required": ["id"],
                      "properties": {"id": {"type": "string", "minLength": 1}}},
            "application_credential": {"type": "object", "required": ["secret"], "properties": {
                "id": _id, "name": _name, "secret": {"type": "string"}, "user": _user_ref}}}},
        "scope": {"oneOf": [
            {"const": "unscoped"},
            {"type": "object", "properties": {
                "project": {"type": "object", "properties": {
                    "id": _id, "name": _name, "domain": _ref}},
                "domain": _ref,
                "system": {"type": "object"},
                "OS-TRUST:trust": {"type": "object", "required": ["id"],
                                   "properties": {"id": _id}}}}]}}}}}

_credential: Schema = {"properties": {
    "blob": {"type": "string", "minLength": 1, "maxLength": 16384},
    "type": {"type": "string", "minLength": 1, "maxLength": 255},
    "user_id": _id, "project_id": {"type": ["string", "null"], "maxLength": 64}}}
credential_create = _wrap("credential", _credential, ["blob", "type", "user_id"])
credential_update = _wrap("credential", {**_credential, "minProperties": 1})
ec2_credential_create = {"type": "object", "required": ["tenant_id"],
                         "properties": {"tenant_id": _id}}
ec2_token = {"type": "object", "properties": {
    key: {"type": "object", "properties": {
        "access": {"type": "string", "minLength": 1, "maxLength": 255},
        "signature": {"type": "string", "maxLength": 1024},
        "host": {"type": ["string", "null"], "maxLength": 1024},
        "verb": {"type": ["string", "null"], "maxLength": 16},
        "path": {"type": ["string", "null"], "maxLength": 8192},
        "params": {"type": "object", "additionalProperties": {"type": "string"}},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "body_hash": {"type": ["string", "null"], "maxLength": 128}}}
    for key in ("credentials", "ec2Credentials")}}
trust_create = _wrap("trust", {"properties": {
    "trustor_user_id": _id, "trustee_user_id": _id, "impersonation": {"type": "boolean"},
    "project_id": {"type": ["string", "null"], "maxLength": 64},
    "roles": {"type": "array", "items": _ref, "maxItems": 100},
    "expires_at": {"type": ["string", "null"], "maxLength": 64},
    "remaining_uses": {"type": ["integer", "null"], "minimum": 1, "maximum": 2**31 - 1},
    "allow_redelegation": {"type": ["boolean", "null"]},
    "redelegation_count": {"type": ["integer", "null"], "minimum": 0, "maximum": 2**31 - 1}}},
    ["trustor_user_id", "trustee_user_id", "impersonation"])

# -- unified limits ------------------------------------------------------------------
_limit_value: Schema = {"type": "integer", "minimum": -1, "maximum": 0x7FFFFFFF}
_limit_description: Schema = {"type": ["string", "null"], "maxLength": 255}
_nullable_id: Schema = {"type": ["string", "null"], "minLength": 1, "maxLength": 64}
_registered_limit: Schema = {"type": "object", "additionalProperties": False, "properties": {
    "service_id": _id, "region_id": _nullable_id, "resource_name": _name,
    "default_limit": _limit_value, "description": _limit_description}}
registered_limits_create: Schema = {
    "type": "object", "required": ["registered_limits"], "properties": {"registered_limits": {
        "type": "array", "minItems": 1, "maxItems": 100, "items": {
            **_registered_limit, "required": ["service_id", "resource_name", "default_limit"]}}}}
registered_limit_update = _wrap("registered_limit", {**_registered_limit, "minProperties": 1})
_limit_create: Schema = {"type": "object", "additionalProperties": False,
                         "required": ["service_id", "resource_name", "resource_limit"],
                         "oneOf": [{"required": ["project_id"]}, {"required": ["domain_id"]}],
                         "properties": {
    "project_id": _id, "domain_id": _id, "service_id": _id, "region_id": _nullable_id,
    "resource_name": _name, "resource_limit": _limit_value, "description": _limit_description}}
limits_create: Schema = {"type": "object", "required": ["limits"], "properties": {"limits": {
    "type": "array", "minItems": 1, "maxItems": 100, "items": _limit_create}}}
limit_update = _wrap("limit", {"additionalProperties": False, "minProperties": 1, "properties": {
    "resource_limit": _limit_value, "description": _limit_description}})


_endpoint_group: Schema = {"properties": {"name": _name, "description": _description,
                                          "filters": {"type": "object"}}}
endpoint_group_create = _wrap("endpoint_group", _endpoint_group, ["name", "filters"])
endpoint_group_update = _wrap("endpoint_group", {**_endpoint_group, "minProperties": 1})

_policy: Schema = {"properties": {"blob": {"type": "string", "maxLength": 65535},
                                  "type": _name}}
policy_create = _wrap("policy", _policy, ["blob", "type"])
policy_update = _wrap("policy", {**_policy, "minProperties": 1})
