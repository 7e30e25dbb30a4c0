"""The message bus of a process, from ``[bus]``."""

from __future__ import annotations

from labs.common.bus import Bus, connect
from labs.common.bus.options import BusOptions
from labs.common.runner import Site


def open_bus(site: Site, publisher: str) -> Bus:
    """The bus at ``[bus] url`` (in-process when none is set); `publisher` names this
    process in the notifications it sends."""
    options = site.config.group(BusOptions)
    return connect(options.url or "memory://", namespace=options.namespace,
                   publisher_id=publisher)
