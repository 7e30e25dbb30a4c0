"""The DNS backend interface: where the DNS service publishes its zones to be served.

The DNS service's database is the truth; a backend serves a copy. The service pushes a
zone whole (every recordset, its SOA and NS included) whenever it changes, and pushes
every zone again when it starts, so a backend that lost its state converges.

Every backend follows the same rules, checked by tests/dns/test_backend_contract.py:

- Names are absolute, lower case, with the trailing dot (``web-1.bots.labs.internal.``);
  record data is in zone-file presentation form (``10.68.0.2``, ``10 mail.example.org.``,
  ``"some text"``), as Designate's API shows it.
- `publish` replaces the zone's whole content at once: a lookup sees the old content or
  the new one, never a mix. (The embedded server also answers a CNAME and its target
  from one version; PowerDNS looks them up one after the other, so across a publish the
  two may come from different versions.) Publishing the same zone again is fine.
- `remove` of a zone the backend does not have is fine.
- Failure: operations raise BackendError (never a library's own exception), leaving the
  zone as it was; the service retries.
- Threads: a backend may be called from several threads at once.
- Backends import nothing database-related and never each other.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar


class BackendError(Exception):
    """The backend could not do what was asked; the message says what and why."""


@dataclass(frozen=True)
class RecordSet:
    """All records of one name and type."""

    name: str  # absolute, lower case, trailing dot
    type: str  # "A", "AAAA", "CNAME", "MX", "TXT", "SRV", "PTR", "NS", "CAA", "SOA"
    ttl: int
    records: tuple[str, ...]  # presentation form, one per record


@dataclass(frozen=True)
class Zone:
    """A zone as it is to be served: its name, serial and every recordset (SOA first)."""

    name: str  # absolute, lower case, trailing dot
    serial: int
    recordsets: tuple[RecordSet, ...]


class DnsBackend(ABC):
    """Serves zones; see the module docstring for the shared rules."""

    name: ClassVar[str]

    @abstractmethod
    def publish(self, zone: Zone) -> None:
        """Serve `zone` as given from now on (replacing what was served for its name)."""

    @abstractmethod
    def remove(self, zone_name: str) -> None:
        """Stop serving the zone; queries for it get REFUSED (not authoritative)."""

    @abstractmethod
    def zone_names(self) -> list[str]:
        """The zones being served."""

    @abstractmethod
    def serial(self, zone_name: str) -> int | None:
        """The serial being served for the zone (None: not served)."""

    def probe(self) -> dict[str, int]:
        """Raise unless the backend answers; a few figures about it (its service
        status, `labs.dns.statuses`)."""
        return {"zones": len(self.zone_names())}

    def close(self) -> None:  # noqa: B027 - an optional hook, empty on purpose
        """Release what the backend holds (sockets, clients)."""
