"""DNS options (section ``[dns]`` of labs.conf, or ``LABS_DNS_*``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from labs.common.config import option


@dataclass(frozen=True)
class DnsOptions:
    section: ClassVar[str] = "dns"
    nameservers: list[str] = option(
        ["ns1.labs.internal."], "the names in every zone's NS recordset; the first one is "
        "the SOA's primary name server")
    backend: str = option("embedded", "what serves the zones: embedded (Labs' own "
                          "authoritative server, on `listen`) or powerdns (a PowerDNS "
                          "server kept in step through its HTTP API)")
    powerdns_api_url: str = option("", "powerdns: the API's URL, e.g. http://127.0.0.1:8081")
    powerdns_api_key: str = option("", "powerdns: the API key (pdns.conf api-key)")
    powerdns_server_id: str = option("localhost", "powerdns: the server id in the API")
    listen: str = option("127.0.0.1:0", "HOST:PORT the embedded DNS server of `labs up` "
                         "answers on (UDP and TCP); port 0 picks a free one, which `labs up` "
                         "logs")
    project_zone_domains: list[str] = option(
        [], "domains under which project members may create zones (e.g. "
        "`labs.example.org`); members may also create `<project>.<[network] dns_domain>` "
        "and below, and zones under TLDs an admin registered; admins may create any zone")
    allow_transfer: list[str] = option(
        [], "addresses or networks (e.g. `192.0.2.10`, `192.0.2.0/28`) of the secondary "
        "servers the embedded server gives zone transfers (AXFR) to; everyone else gets "
        "REFUSED")
    max_udp_size: int = option(1232, "the largest UDP answer the embedded server sends, "
                               "whatever the client's EDNS offers; larger ones are "
                               "truncated (TC) so the client asks over TCP")
    rate_limit: int = option(20, "the embedded server's response rate limit: answers per "
                             "second alike (same answer, same client /24 or /56) before "
                             "it drops or truncates them (0: no limit)")
    rate_limit_exempt: list[str] = option(
        ["127.0.0.0/8", "::1"], "clients the rate limit spares (the host, whose DNS relay "
        "asks for every VM)")
    region: str = option("RegionOne", "the region in floating IPs' PTR ids "
                         "(`<region>:<floating IP id>`), the catalog's")
    default_ttl: int = option(3600, "TTL of a zone created without one")
    soa_refresh: int = option(3600, "the SOA's refresh, in seconds")
    soa_retry: int = option(600, "the SOA's retry, in seconds")
    soa_expire: int = option(86400, "the SOA's expire, in seconds")
    soa_minimum: int = option(3600, "the SOA's minimum (negative caching TTL), in seconds")
    quota_zones: int = option(10, "zones a project may own (negative: no limit)")
    quota_zone_recordsets: int = option(500, "recordsets a zone may hold")
    quota_zone_records: int = option(500, "records a zone may hold (records made by the "
                                     "cloud for its VMs do not count)")
    quota_recordset_records: int = option(20, "records a recordset may hold")
    quota_api_export_size: int = option(1000, "recordsets a zone export may hold")
    cloud_project: str = option("admin", "the project that owns the zones the cloud makes "
                                "for its VMs (by name)")
    reconcile_seconds: float = option(60.0, "how often the sink compares the VMs' records "
                                      "with the live instances (also at start)")
    heartbeat_seconds: float = option(10.0, "how often each part of the DNS service (api, "
                                      "server, sink, publisher) reports its status; one "
                                      "silent for three periods is shown DOWN")
    sync_seconds: float = option(30.0, "how often zones whose publishing failed are pushed "
                                 "to the backend again")
