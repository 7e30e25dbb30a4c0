"""JSON schemas of compute request bodies, as Nova's per microversion.

A body that changed over microversions has a ``Versioned`` table: its routes parse
any JSON object (``OBJECT``) and the handler checks the body against the schema of
the call's version with :func:`check`.
"""

from __future__ import annotations

from typing import Any

from labs.common.errors import BadRequest
from labs.common.http import Version, validate

Schema = dict[str, Any]
#: (first microversion, schema) pairs, oldest first.
Versioned = tuple[tuple[Version, Schema], ...]

#: The route-level schema of bodies checked per version in the handler.
OBJECT: Schema = {"type": "object"}
MAX_INT = 0x7FFFFFFF


def check(body: Any, versions: Versioned, version: Version) -> dict[str, Any]:
    """``body`` checked against the schema in force at ``version`` (400 if it fails)."""
    schema = versions[0][1]
    for since, candidate in versions:
        if version >= since:
            schema = candidate
    validate(body, schema)
    result: dict[str, Any] = body
    return result


# -- shared parameter types (Nova's parameter_types) ---------------------------------

#: Printable, not starting or ending with white space (Nova's ``name`` format).
NAME: Schema = {"type": "string", "minLength": 1, "maxLength": 255,
                "pattern": r"^(?!\s)[^\x00-\x1f\x7f-\x9f\u2028\u2029]*(?<!\s)$"}
DESCRIPTION: Schema = {"type": ["string", "null"], "maxLength": 255,
                       "pattern": r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"}
#: Nova's ``boolean``: JSON booleans and the strings oslo reads as one.
BOOLEAN: Schema = {"enum": [True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes",
                            "yes", False, "False", "FALSE", "false", "0", "OFF", "Off", "off",
                            "NO", "No", "no"]}
TRUE_STRINGS = frozenset({"true", "1", "on", "yes"})


def boolean(value: Any) -> bool:
    """A value :data:`BOOLEAN` accepted, as a bool."""
    return value if isinstance(value, bool) else str(value).lower() in TRUE_STRINGS


def integer(name: str, value: Any, minimum: int, maximum: int = MAX_INT) -> int:
    """A whole number the schema let through (perhaps in a string), range-checked."""
    number = int(value)
    if not minimum <= number <= maximum:
        raise BadRequest(f"Invalid input for field '{name}': {value} is not between "
                         f"{minimum} and {maximum}.")
    return number


def _integer(minimum: int, maximum: int = MAX_INT) -> Schema:
    # numbers in strings pass too; the handler converts them and checks the range
    return {"type": ["integer", "string"], "pattern": r"^-?[0-9]+$", "minimum": minimum,
            "maximum": maximum}


def _obj(properties: Schema, required: tuple[str, ...] = (), **extra: Any) -> Schema:
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False, **extra}


def _wrapped(key: str, inner: Schema) -> Schema:
    return _obj({key: inner}, (key,))


# -- flavors ---------------------------------------------------------------------------

_FLAVOR: Schema = {
    "name": NAME,
    # Labs keeps flavor ids in 64 characters (Nova: 255)
    "id": {"type": ["string", "number", "null"], "minLength": 1, "maxLength": 64,
           "pattern": r"^(?! )[a-zA-Z0-9. _-]+(?<! )$"},
    "ram": _integer(1), "vcpus": _integer(1), "disk": _integer(0),
    "OS-FLV-EXT-DATA:ephemeral": _integer(0), "swap": _integer(0),
    "rxtx_factor": {"type": ["number", "string"], "pattern": r"^[0-9]+(\.[0-9]+)?$",
                    "exclusiveMinimum": 0, "maximum": 3.40282e38},
    "os-flavor-access:is_public": BOOLEAN,
}
_FLAVOR_DESCRIPTION: Schema = {**DESCRIPTION, "maxLength": 65535}
FLAVOR_CREATE: Versioned = (
    ((2, 1), _wrapped("flavor", _obj(_FLAVOR, ("name", "ram", "vcpus", "disk")))),
    ((2, 55), _wrapped("flavor", _obj({**_FLAVOR, "description": _FLAVOR_DESCRIPTION},
                                      ("name", "ram", "vcpus", "disk")))),
)
FLAVOR_UPDATE: Schema = _wrapped("flavor", _obj({"description": _FLAVOR_DESCRIPTION},
                                                ("description",)))

_SPEC_KEY = r"^[a-zA-Z0-9-_:. ]{1,255}$"
_SPECS: Schema = {"type": "object", "additionalProperties": False, "patternProperties": {
    _SPEC_KEY: {"type": ["string", "number"], "maxLength": 255}}}
EXTRA_SPECS_CREATE: Schema = _wrapped("extra_specs", _SPECS)
EXTRA_SPEC_UPDATE: Schema = {**_SPECS, "minProperties": 1, "maxProperties": 1}

_TENANT: Schema = _obj({"tenant": {"type": "string", "minLength": 1, "maxLength": 255}},
                       ("tenant",))
FLAVOR_ACTION: Schema = _obj({"addTenantAccess": _TENANT, "removeTenantAccess": _TENANT},
                             minProperties=1, maxProperties=1)


# -- key pairs -------------------------------------------------------------------------

def _keypair_name(pattern: str) -> Schema:
    return {"allOf": [NAME, {"type": "string", "pattern": pattern}]}


_KEYPAIR: Schema = {"name": _keypair_name(r"^[_\- a-zA-Z0-9]+$"),
                    "public_key": {"type": "string"}}
_KEY_TYPE: Schema = {"type": "string", "enum": ["ssh", "x509"]}
KEYPAIR_CREATE: Versioned = (
    ((2, 1), _wrapped("keypair", _obj(_KEYPAIR, ("name",)))),
    ((2, 2), _wrapped("keypair", _obj({**_KEYPAIR, "type": _KEY_TYPE}, ("name",)))),
    ((2, 10), _wrapped("keypair", _obj({**_KEYPAIR, "type": _KEY_TYPE,
                                        "user_id": {"type": "string"}}, ("name",)))),
    # 2.92: no more keys made here, and names may hold '@' and '.'
    ((2, 92), _wrapped("keypair", _obj(
        {**_KEYPAIR, "type": _KEY_TYPE, "user_id": {"type": "string"},
         "name": _keypair_name(r"^[_\-@. a-zA-Z0-9]+$")}, ("name", "public_key")))),
)


# -- server groups ---------------------------------------------------------------------

def _policies(*names: str) -> Schema:
    return {"type": "array", "minItems": 1, "maxItems": 1,
            "items": {"type": "string", "enum": list(names)}}


SOFT = ("soft-anti-affinity", "soft-affinity")
SERVER_GROUP_CREATE: Versioned = (
    ((2, 1), _wrapped("server_group", _obj(
        {"name": NAME, "policies": _policies("anti-affinity", "affinity")},
        ("name", "policies")))),
    ((2, 15), _wrapped("server_group", _obj(
        {"name": NAME, "policies": _policies("anti-affinity", "affinity", *SOFT)},
        ("name", "policies")))),
    ((2, 64), _wrapped("server_group", _obj(
        {"name": NAME,
         "policy": {"type": "string", "enum": ["anti-affinity", "affinity", *SOFT]},
         "rules": _obj({"max_server_per_host": {"type": ["integer", "string"],
                                                "pattern": r"^[0-9]+$", "minimum": 1}})},
        ("name", "policy")))),
)


# -- services and quotas ---------------------------------------------------------------

_REASON: Schema = {"type": "string", "minLength": 1, "maxLength": 255}
_HOST: Schema = {"type": "string", "pattern": r"^[a-zA-Z0-9-._]*$", "minLength": 1,
                 "maxLength": 255}
_BINARY: Schema = {"type": "string", "minLength": 1, "maxLength": 255}
#: ``PUT /os-services/{enable,disable,disable-log-reason,force-down}`` before 2.53,
#: then ``PUT /os-services/{uuid}``.
SERVICE_UPDATE: Versioned = (
    ((2, 1), _obj({"host": _HOST, "binary": _BINARY, "disabled_reason": _REASON},
                  ("host", "binary"))),
    ((2, 11), _obj({"host": _HOST, "binary": _BINARY, "disabled_reason": _REASON,
                    "forced_down": BOOLEAN}, ("host", "binary"))),
    ((2, 53), _obj({"status": {"type": "string", "enum": ["enabled", "disabled"]},
                    "disabled_reason": _REASON, "forced_down": BOOLEAN})),
)

_QUOTA = _integer(-1)
QUOTAS_V21 = ("instances", "cores", "ram", "floating_ips", "fixed_ips", "metadata_items",
              "key_pairs", "security_groups", "security_group_rules", "injected_files",
              "injected_file_content_bytes", "injected_file_path_bytes", "server_groups",
              "server_group_members")
#: Gone from quota bodies at 2.36 (nova-network) and at 2.57 (file injection).
QUOTAS_GONE_236 = ("fixed_ips", "floating_ips", "security_groups", "security_group_rules")
QUOTAS_GONE_257 = ("injected_files", "injected_file_content_bytes",
                   "injected_file_path_bytes")


def _quota_set(names: tuple[str, ...]) -> Schema:
    return _wrapped("quota_set", _obj({**{n: _QUOTA for n in names}, "force": BOOLEAN}))


_QUOTAS_V236 = tuple(n for n in QUOTAS_V21 if n not in QUOTAS_GONE_236)
QUOTA_SET_UPDATE: Versioned = (
    ((2, 1), _quota_set(QUOTAS_V21)),
    ((2, 36), _quota_set(_QUOTAS_V236)),
    ((2, 57), _quota_set(tuple(n for n in _QUOTAS_V236 if n not in QUOTAS_GONE_257))),
)


# -- servers (kept by the servers code) --------------------------------------------------
