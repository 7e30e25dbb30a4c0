"""What keeps the embedded DNS server from being turned on others: who may transfer
zones, how large a UDP answer may grow, and response-rate limiting.

Response-rate limiting follows BIND's RRL: a client network (a /24, or a /56 for IPv6)
gets at most `rate` identical answers a second (a token bucket per network and answer,
as deep as one second's worth). Beyond that, answers are dropped, but every `slip`-th
one goes out empty with TC set, so a real client behind a spoofed flood still gets
through over TCP while the victim of a reflection gets nothing larger than the query.
The table is bounded: at `max_entries` buckets, the ones that are full again go, and if
that is not enough, all of them.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: RFC 8085 / DNS flag day 2020: the largest UDP answer unlikely to be fragmented.
DEFAULT_MAX_UDP = 1232
MIN_UDP = 512
LOOPBACK = ("127.0.0.0/8", "::1")


def networks(texts: Iterable[str], what: str) -> tuple[Network, ...]:
    """Addresses or networks from configuration; ValueError naming `what` if one is bad."""
    out = []
    for text in texts:
        try:
            out.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{what}: {text!r} is not an address or network") from None
    return tuple(out)


def within(address: str, nets: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return any(ip in net for net in nets)


@dataclass(frozen=True)
class ServerLimits:
    """The embedded server's limits (``[dns] max_udp_size``, ``allow_transfer``,
    ``rate_limit``, ``rate_limit_exempt``)."""

    max_udp_size: int = DEFAULT_MAX_UDP
    allow_transfer: tuple[Network, ...] = ()
    rate_limit: int = 0
    rate_limit_exempt: tuple[Network, ...] = field(
        default_factory=lambda: networks(LOOPBACK, "exempt"))

    @classmethod
    def of(cls, max_udp_size: int = DEFAULT_MAX_UDP, allow_transfer: Iterable[str] = (),
           rate_limit: int = 0, rate_limit_exempt: Iterable[str] = LOOPBACK
           ) -> ServerLimits:
        return cls(max(MIN_UDP, min(max_udp_size, 65535)),
                   networks(allow_transfer, "[dns] allow_transfer"), max(0, rate_limit),
                   networks(rate_limit_exempt, "[dns] rate_limit_exempt"))

    def may_transfer(self, address: str) -> bool:
        return within(address, self.allow_transfer)


def client_network(address: str) -> bytes:
    """The client's /24 (IPv4) or /56 (IPv6), as the rate limiter groups them."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address.encode()
    return ip.packed[:3] if ip.version == 4 else ip.packed[:7]


class RateLimiter:
    """Token buckets per (client network, answer); see the module docstring."""

    def __init__(self, rate: int, exempt: tuple[Network, ...] = (), *, slip: int = 2,
                 max_entries: int = 100_000) -> None:
        self.rate = float(rate)
        self.exempt = exempt
        self.slip = slip
        self.max_entries = max_entries
        #: (network, answer key) -> [tokens, last refill, limited count]
        self._buckets: dict[tuple[bytes, int], list[float]] = {}
        self._exempt: dict[str, bool] = {}  # by address: parsing one costs a query's time
        self._lock = threading.Lock()

    def verdict(self, address: str, answer_key: int) -> str:
        """``send``, ``slip`` (send an empty TC answer) or ``drop``."""
        if self.rate <= 0 or self.exempted(address):
            return "send"
        key = (client_network(address), answer_key)
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_entries:
                    self._evict(now)
                self._buckets[key] = [self.rate - 1, now, 0]
                return "send"
            bucket[0] = min(self.rate, bucket[0] + (now - bucket[1]) * self.rate)
            bucket[1] = now
            if bucket[0] >= 1:
                bucket[0] -= 1
                return "send"
            bucket[2] += 1
            return "slip" if self.slip and bucket[2] % self.slip == 0 else "drop"

    def exempted(self, address: str) -> bool:
        exempt = self._exempt.get(address)
        if exempt is None:
            if len(self._exempt) >= 4096:
                self._exempt.clear()
            exempt = self._exempt[address] = within(address, self.exempt)
        return exempt

    def _evict(self, now: float) -> None:
        full = [k for k, (tokens, last, _) in self._buckets.items()
                if tokens + (now - last) * self.rate >= self.rate]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self.max_entries:
            self._buckets.clear()

    def __len__(self) -> int:
        return len(self._buckets)
