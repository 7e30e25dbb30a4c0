"""Which zone names a project may take.

The cloud's DNS server answers the VMs of every project (through the DNS relay), so a
zone is a claim on names other projects see. A member (any non-admin) may create zones
only:

- below one of the operator's project domains (``[dns] project_zone_domains``);
- at or below its own project's part of the cloud's domain
  (``<project>.<[network] dns_domain>``), never another project's or the cloud's own
  names there;
- below a TLD an admin registered (``/v2/tlds``);

and never a name a blacklist pattern matches. Admins may create any zone (Designate's
``use_blacklisted_zone``). Designate's other rule, that a zone may not sit inside or
above another project's zone, is `Zones._check_ownership`'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from labs.common.names import dns_label
from labs.dns import models
from labs.dns.blacklists import Blacklists
from labs.dns.errors import IllegalChildZone, InvalidZoneName
from labs.dns.names import in_zone, parents
from labs.dns.scope import Caller


def absolute(domain: str) -> str:
    return domain.strip().lower().rstrip(".") + "."


@dataclass(frozen=True)
class ZoneRules:
    project_domains: tuple[str, ...] = ()
    internal_domain: str | None = None

    @classmethod
    def of(cls, project_domains: Iterable[str], internal_domain: str | None) -> ZoneRules:
        return cls(tuple(absolute(d) for d in project_domains if d.strip(".")),
                   absolute(internal_domain) if internal_domain else None)

    def own_subdomain(self, caller: Caller) -> str | None:
        """``<project>.<internal domain>`` of the caller's project (None without one)."""
        label = dns_label(caller.project_label or "")
        if self.internal_domain is None or not label:
            return None
        return f"{label}.{self.internal_domain}"

    def check(self, tx: Session, caller: Caller, name: str) -> str | None:
        """Raise unless the caller may take ``name``; the cloud's zone it may nest in
        (the internal domain, for a member's own project subdomain), else None."""
        own = self.own_subdomain(caller)
        nest_in = self.internal_domain if own is not None and in_zone(name, own) else None
        if caller.admin:
            return nest_in
        if Blacklists.blacklisted(tx, name):
            raise InvalidZoneName("Blacklisted zone name")
        if nest_in is not None:
            return nest_in
        if self.internal_domain is not None and in_zone(name, self.internal_domain):
            raise IllegalChildZone(f"Only {own or '<project>.' + self.internal_domain} and "
                                   f"below are a project's names in {self.internal_domain}")
        if any(name.endswith("." + domain) for domain in self.project_domains):
            return None
        under = [p.rstrip(".") for p in parents(name)]
        if under and tx.scalars(sa.select(models.Tld.id)
                                .where(models.Tld.name.in_(under))).first() is not None:
            return None
        allowed = [f"{own}" if own else None, *(f"*.{d}" for d in self.project_domains)]
        raise InvalidZoneName(
            "Projects create zones only under the cloud's project domains or registered "
            f"TLDs ({', '.join(a for a in allowed if a) or 'none configured'}); "
            f"{name} is for admins")
