"""The PowerDNS backend: Labs' zones served by a PowerDNS authoritative server.

For clouds that run PowerDNS (Debian `pdns-server`, any database backend of its own) as
their name servers. Labs keeps it in step through PowerDNS's HTTP API (v1, `api=yes` and
`webserver=yes` in pdns.conf, with `api-key`):

- `publish` creates a missing zone (kind Native: PowerDNS's own database is replicated,
  if at all, by the operator, not by zone transfers) with all its recordsets at once, or
  makes an existing zone's content equal to the given one in ONE PATCH: every given
  recordset REPLACEd, every other recordset PowerDNS holds DELETEd. PowerDNS applies a
  PATCH in one database transaction and purges its caches for the zone, so a query sees
  the old content or the new one; a PATCH it rejects (a record that does not parse, a
  CNAME beside other data, a name out of the zone) changes nothing.
- Zones are made with SOA-EDIT-API empty, so PowerDNS serves the serial the DNS service
  gave; its default (DEFAULT) would rewrite the serial on every API change.
- Before sending, `publish` checks what PowerDNS would not: every name absolute and lower
  case inside the zone, and exactly one SOA, at the apex, whose serial is the zone's.

PowerDNS's query cache must be off (``query-cache-ttl=0`` and ``negquery-cache-ttl=0`` in
pdns.conf; its packet cache may stay): an answer that follows a CNAME takes a second
lookup, and the query cache can serve it what was read just before a change, so a CNAME
could be answered without its target's records until the next change. The backend warns
once when the server runs with it on. After each change it flushes PowerDNS's caches for
the zone: creating a zone leaves the REFUSED answers cached before it in place, and an
answer whose two lookups straddled the commit must not outlive it.

Failures (PowerDNS unreachable, slow, refusing the API key, rejecting a change) raise
BackendError naming the server and what to check.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import quote

import httpx

from labs.dns.backends.base import BackendError, DnsBackend, RecordSet, Zone

log = logging.getLogger("labs.dns.powerdns")

#: SOA-EDIT-API off: PowerDNS serves the serial in the SOA we send.
SOA_EDIT_API = ""
#: PowerDNS settings that must be 0 for a query to see the old zone or the new one.
QUERY_CACHE_SETTINGS = ("query-cache-ttl", "negquery-cache-ttl")


def zone_id(zone_name: str) -> str:
    """The id PowerDNS's API knows a zone by: its name, every character other than a
    letter, digit, dot or hyphen written as ``=XX`` (``my_zone.`` is ``my=5Fzone.``)."""
    if zone_name == ".":
        return "=2E"
    return "".join(c if c.isascii() and (c.isalnum() or c in ".-") else f"={ord(c):02X}"
                   for c in zone_name)


class PowerDnsBackend(DnsBackend):
    """Publishes zones to a PowerDNS authoritative server through its HTTP API.

    `api_url` is PowerDNS's web server (``http://127.0.0.1:8081``), `api_key` its
    `api-key`, `server_id` the server in its API (always ``localhost`` for pdns_server).
    """

    name = "powerdns"

    def __init__(self, api_url: str, api_key: str, server_id: str = "localhost",
                 timeout: float = 10.0) -> None:
        self.api_url = api_url.rstrip("/").removesuffix("/api/v1")
        self.server_id = server_id
        self.timeout = timeout
        self._client = httpx.Client(
            base_url=f"{self.api_url}/api/v1/servers/{quote(server_id, safe='')}",
            headers={"X-API-Key": api_key, "Accept": "application/json"},
            timeout=httpx.Timeout(timeout), follow_redirects=False)
        self._guard = threading.Lock()
        self._zone_locks: dict[str, threading.Lock] = {}
        self._settings_checked = False

    # -- the backend interface --------------------------------------------------------

    def publish(self, zone: Zone) -> None:
        check_zone(zone)
        self._check_settings_once()
        wanted = {(rs.name, rs.type): rs for rs in zone.recordsets if rs.records}
        # Read-then-patch is one step per zone: two publishes of one zone at once must not
        # each delete by what they read before the other wrote.
        with self._zone_lock(zone.name):
            current = self._get_zone(zone.name)
            if current is None:
                if self._create_zone(zone, list(wanted.values())):
                    self._flush_cache(zone.name)
                    log.info("published zone %s serial %d to PowerDNS at %s: created with "
                             "%d recordsets", zone.name, zone.serial, self.api_url, len(wanted))
                    return
                current = self._get_zone(zone.name)  # made meanwhile by another publisher
                if current is None:
                    raise BackendError(f"PowerDNS at {self.api_url} neither created nor has "
                                       f"zone {zone.name}; check its log")
            if current.get("soa_edit_api") != SOA_EDIT_API:
                self._request("PUT", self._zone_path(zone.name), f"configure zone {zone.name}",
                              json={"soa_edit_api": SOA_EDIT_API})
            held = {(str(rs["name"]).lower(), str(rs["type"]).upper())
                    for rs in current.get("rrsets", [])}
            # Deletions first: PowerDNS checks each change against what is there, so an A
            # that becomes a CNAME must be gone before the CNAME comes.
            changes: list[dict[str, Any]] = [
                {"name": name, "type": rtype, "changetype": "DELETE"}
                for name, rtype in sorted(held - wanted.keys())]
            changes += [{**rrset_body(rs), "changetype": "REPLACE"} for rs in wanted.values()]
            self._request("PATCH", self._zone_path(zone.name), f"update zone {zone.name}",
                          json={"rrsets": changes})
            self._flush_cache(zone.name)
        log.info("published zone %s serial %d to PowerDNS at %s: %d recordsets, %d removed",
                 zone.name, zone.serial, self.api_url, len(wanted), len(held - wanted.keys()))

    def remove(self, zone_name: str) -> None:
        with self._zone_lock(zone_name):
            response = self._request("DELETE", self._zone_path(zone_name),
                                     f"delete zone {zone_name}", allow=(404,))
        if response.status_code != 404:
            log.info("removed zone %s from PowerDNS at %s", zone_name, self.api_url)

    def zone_names(self) -> list[str]:
        zones = self._json(self._request("GET", "/zones", "list zones"), "list zones")
        return sorted(str(z["name"]).lower() for z in self._zone_list(zones, "list zones"))

    def serial(self, zone_name: str) -> int | None:
        what = f"read zone {zone_name}"
        found = self._zone_list(self._json(self._request(
            "GET", "/zones", what, params={"zone": zone_name}), what), what)
        return int(found[0]["serial"]) if found else None

    def close(self) -> None:
        self._client.close()

    # -- talking to PowerDNS ----------------------------------------------------------

    def _zone_lock(self, zone_name: str) -> threading.Lock:
        with self._guard:
            return self._zone_locks.setdefault(zone_name, threading.Lock())

    def _zone_path(self, zone_name: str) -> str:
        return f"/zones/{zone_id(zone_name)}"

    def _get_zone(self, zone_name: str) -> dict[str, Any] | None:
        what = f"read zone {zone_name}"
        response = self._request("GET", self._zone_path(zone_name), what, allow=(404,))
        if response.status_code == 404:
            return None
        body = self._json(response, what)
        if not isinstance(body, dict):
            raise BackendError(f"PowerDNS at {self.api_url} sent no zone to {what}")
        return body

    def _check_settings_once(self) -> None:
        if self._settings_checked:
            return
        what = "read its settings"
        settings = self._json(self._request("GET", "/config", what), what)
        values = {str(s.get("name")): str(s.get("value")) for s in settings
                  if isinstance(s, dict)} if isinstance(settings, list) else {}
        cached = [f"{name}={values[name]}" for name in QUERY_CACHE_SETTINGS
                  if values.get(name, "0") != "0"]
        if cached:
            log.warning("PowerDNS at %s runs with its query cache on (%s): after a change, a "
                        "CNAME may be answered without its target's records for that long; "
                        "set %s in pdns.conf", self.api_url, ", ".join(cached),
                        " ".join(f"{name}=0" for name in QUERY_CACHE_SETTINGS))
        self._settings_checked = True

    def _flush_cache(self, zone_name: str) -> None:
        """Drop PowerDNS's cached answers for the zone and the names in it: creating a zone
        leaves the REFUSED answers cached before it in place, and a query under way while a
        PATCH commits can cache old data after PowerDNS's own purge."""
        self._request("PUT", "/cache/flush", f"flush the cache of zone {zone_name}",
                      params={"domain": zone_name})

    def _create_zone(self, zone: Zone, recordsets: list[RecordSet]) -> bool:
        """Create the zone with its content; False if it exists already."""
        body = {"name": zone.name, "kind": "Native", "nameservers": [],
                "soa_edit_api": SOA_EDIT_API, "rrsets": [rrset_body(rs) for rs in recordsets]}
        response = self._request("POST", "/zones", f"create zone {zone.name}", json=body,
                                 allow=(409,))
        return response.status_code != 409

    def _request(self, method: str, path: str, what: str, *, json: Any = None,
                 params: dict[str, str] | None = None,
                 allow: tuple[int, ...] = ()) -> httpx.Response:
        """One API call; any failure but the `allow`ed statuses raises BackendError."""
        where = f"PowerDNS at {self.api_url} (server {self.server_id})"
        try:
            response = self._client.request(method, path, json=json, params=params)
        except httpx.TimeoutException as exc:
            raise BackendError(
                f"{where} did not answer within {self.timeout:g} s to {what}; check that "
                f"pdns_server is running and not overloaded") from exc
        except httpx.HTTPError as exc:
            raise BackendError(
                f"cannot reach {where} to {what}: {str(exc) or type(exc).__name__}; check that "
                f"pdns_server runs with api=yes and webserver=yes on that address and port, "
                f"and that webserver-allow-from lets this host in") from exc
        status = response.status_code
        if status < 400 or status in allow:
            return response
        if status in (401, 403):
            raise BackendError(f"{where} refused the API key to {what} (HTTP {status}); "
                               f"check that it matches api-key in pdns.conf")
        if status == 404:
            raise BackendError(f"{where} has no such API resource to {what} (HTTP 404); "
                               f"check the API URL and the server id (pdns_server: localhost)")
        raise BackendError(f"{where} could not {what}: HTTP {status}: {error_text(response)}")

    def _json(self, response: httpx.Response, what: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise BackendError(f"PowerDNS at {self.api_url} answered {what} with something "
                               f"other than JSON; check the API URL") from exc

    def _zone_list(self, body: Any, what: str) -> list[dict[str, Any]]:
        if not isinstance(body, list) or not all(isinstance(z, dict) for z in body):
            raise BackendError(f"PowerDNS at {self.api_url} sent no zone list to {what}")
        return body


def rrset_body(rs: RecordSet) -> dict[str, Any]:
    """A recordset as PowerDNS's API takes it (without its changetype)."""
    return {"name": rs.name, "type": rs.type, "ttl": rs.ttl,
            "records": [{"content": r, "disabled": False} for r in rs.records]}


def error_text(response: httpx.Response) -> str:
    """PowerDNS's own reason for an error (`{"error": ...}`), else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return response.text.strip()[:200] or response.reason_phrase


def check_zone(zone: Zone) -> None:
    """What PowerDNS would accept but Labs must not publish; BackendError for the first."""
    if not zone.name.endswith(".") or zone.name != zone.name.lower():
        raise BackendError(f"zone name {zone.name!r} is not absolute and lower case")
    suffix = "" if zone.name == "." else "." + zone.name
    soas = []
    for rs in zone.recordsets:
        if rs.name != rs.name.lower() or not (rs.name == zone.name or rs.name.endswith(suffix)):
            raise BackendError(f"recordset {rs.name} {rs.type} is not a lower-case name in "
                               f"zone {zone.name}")
        if rs.type == "SOA":
            soas.append(rs)
    if len(soas) != 1 or soas[0].name != zone.name or len(soas[0].records) != 1:
        raise BackendError(f"zone {zone.name} needs exactly one SOA record, at its apex")
    fields = soas[0].records[0].split()
    if len(fields) != 7 or fields[2] != str(zone.serial):
        raise BackendError(f"the SOA of zone {zone.name} ({soas[0].records[0]!r}) does not "
                           f"carry the zone's serial {zone.serial}")
