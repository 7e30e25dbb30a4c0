"""What a host needs before it can run bridge networks."""

from __future__ import annotations

import os
import shutil

BRIDGE_TOOLS = ("ip", "nft", "dnsmasq")


def bridge_possible() -> str | None:
    """Why this host cannot run bridge networks (None: it can)."""
    if os.geteuid() != 0:
        return "bridge networks need root"
    missing = [tool for tool in BRIDGE_TOOLS if shutil.which(tool) is None]
    if missing:
        return f"bridge networks need {', '.join(missing)} (Debian: iproute2, nftables, " \
               "dnsmasq-base)"
    return None
