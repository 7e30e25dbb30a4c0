"""Microversions: the ``OpenStack-API-Version`` a request asks for, and the headers of
the answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from labs.common.errors import BadRequest, NotAcceptable
from labs.common.numbers import is_digits

Version = tuple[int, int]


@dataclass(frozen=True)
class Microversions:
    """An API's microversion range (``OpenStack-API-Version: compute 2.47``)."""

    service: str
    minimum: Version
    maximum: Version
    #: The header older clients send instead (``X-OpenStack-Nova-API-Version``).
    legacy_header: str | None = None

    @staticmethod
    def text(version: Version) -> str:
        return f"{version[0]}.{version[1]}"

    def requested(self, headers: Mapping[str, str]) -> Version:
        """The version a request asks for: the minimum when it names none."""
        wanted: str | None = None
        for item in headers.get("openstack-api-version", "").split(","):
            parts = item.strip().split()
            if len(parts) == 2 and parts[0].lower() == self.service:
                wanted = parts[1]
        if wanted is None and self.legacy_header:
            wanted = headers.get(self.legacy_header.lower())
        if wanted is None or not wanted.strip():
            return self.minimum
        wanted = wanted.strip()
        if wanted.lower() == "latest":
            return self.maximum
        major, dot, minor = wanted.partition(".")
        if not (dot and is_digits(major) and is_digits(minor)):
            raise BadRequest(f"API Version String {wanted} is of invalid format. Must be of "
                             "format MajorNum.MinorNum.")
        version = (int(major), int(minor))
        if not self.minimum <= version <= self.maximum:
            raise NotAcceptable(f"Version {wanted} is not supported by the API. Minimum is "
                                f"{self.text(self.minimum)} and maximum is "
                                f"{self.text(self.maximum)}.")
        return version

    def headers(self, version: Version) -> list[tuple[str, str]]:
        out = [("OpenStack-API-Version", f"{self.service} {self.text(version)}"),
               ("Vary", "OpenStack-API-Version")]
        if self.legacy_header:
            out += [(self.legacy_header, self.text(version)), ("Vary", self.legacy_header)]
        return out

