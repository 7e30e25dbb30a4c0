"""The DNS API's errors, each carrying its Designate ``type`` beside its HTTP meaning.

Designate answers ``{"code": 400, "type": "invalid_object", "message": ..., "errors":
{...}, "request_id": ...}``; errors raised elsewhere in Labs (401 from token validation,
403 from policy) get the type Designate gives their code.
"""

from __future__ import annotations

from typing import Any, ClassVar

from labs.common import errors as common


class DnsError(common.LabsError):
    """Base of the errors below: ``error_type`` is Designate's ``type``."""

    error_type: ClassVar[str] = "unknown"


class BadRequest(DnsError, common.BadRequest):
    error_type = "bad_request"


class InvalidObject(BadRequest):
    """A body that does not match what the API accepts; ``errors`` names each problem
    (``path``, ``message``, ``validator``, ``validator_value``), as Designate lists them."""

    error_type = "invalid_object"

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class InvalidZoneName(BadRequest):
    error_type = "invalid_zone_name"


class InvalidRecordSetName(BadRequest):
    error_type = "invalid_recordset_name"


class InvalidRecordSetLocation(BadRequest):
    error_type = "invalid_recordset_location"


class InvalidTTL(BadRequest):
    error_type = "invalid_ttl"


class ZoneHasSubZone(BadRequest):
    error_type = "zone_has_sub_zone"


class InvalidLimit(BadRequest):
    error_type = "invalid_limit"


class InvalidSortKey(BadRequest):
    error_type = "invalid_sort_key"


class InvalidSortDir(BadRequest):
    error_type = "invalid_sort_dir"


class MarkerNotFound(BadRequest):
    error_type = "marker_not_found"


class QuotaResourceUnknown(BadRequest):
    error_type = "quota_resource_unknown"


class Forbidden(DnsError, common.Forbidden):
    error_type = "forbidden"


class IllegalChildZone(Forbidden):
    error_type = "illegal_child"


class IllegalParentZone(Forbidden):
    error_type = "illegal_parent"


class NotFound(DnsError, common.NotFound):
    error_type = "not_found"


class ZoneNotFound(NotFound):
    error_type = "zone_not_found"


class RecordSetNotFound(NotFound):
    error_type = "recordset_not_found"


class TldNotFound(NotFound):
    error_type = "tld_not_found"


class BlacklistNotFound(NotFound):
    error_type = "blacklist_not_found"


class TsigKeyNotFound(NotFound):
    error_type = "tsigkey_not_found"


class ZoneShareNotFound(NotFound):
    error_type = "zone_share_not_found"


class SharedZoneHasRecordSets(BadRequest):
    error_type = "shared_zone_has_recordsets"


class Duplicate(DnsError, common.Conflict):
    error_type = "duplicate"


class DuplicateZone(Duplicate):
    error_type = "duplicate_zone"


class DuplicateRecordSet(Duplicate):
    error_type = "duplicate_recordset"


class DuplicateTld(Duplicate):
    error_type = "duplicate_tld"


class DuplicateBlacklist(Duplicate):
    error_type = "duplicate_blacklist"


class DuplicateTsigKey(Duplicate):
    error_type = "duplicate_tsigkey"


class DuplicateZoneShare(Duplicate):
    error_type = "duplicate_zone_share"


class OverQuota(DnsError, common.PayloadTooLarge):
    error_type = "over_quota"


#: The type of errors raised outside the DNS service, by their code.
TYPES_BY_CODE = {400: "bad_request", 401: "unauthorized", 403: "forbidden",
                 404: "not_found", 405: "method_not_allowed", 406: "unsupported_accept",
                 409: "duplicate", 413: "over_quota", 415: "unsupported_content_type",
                 503: "service_unavailable"}


def error_type(err: common.LabsError) -> str:
    if isinstance(err, DnsError):
        return err.error_type
    return TYPES_BY_CODE.get(err.code, "unknown")
