"""The nftables rules of one network namespace: port filters, floating IPs, outbound NAT.

The whole ruleset of a network is rendered from the driver's records and applied in one
`nft -f -` transaction that replaces the previous one, so a change is atomic (no packet
sees half of it) and a restarted agent rebuilds exactly what its records say.

Two tables:

- ``bridge labs`` (stateless, on the bridge ports): a port may only send from its own
  MAC and IPv4 address (ARP included; DHCP requests from 0.0.0.0 too) and nothing but
  ARP and IPv4 (no IPv6, so no router advertisements), and never a DHCP server's answer
  (as Neutron), so that an address in the rules stands for one port; DHCP only for its
  own MAC and at a bounded rate. IPv4 broadcasts and multicasts meet each receiving
  port's ingress rules on the way out.
- ``inet labs``: the ports' stateful security rules in the forward hook (bridged IPv4
  passes it through br_netfilter; routed traffic from the uplink too) and, for what
  the namespace itself sends to a port, in the output hook: established
  traffic passes, then a port's egress rules (when it has some), then the receiving
  port's ingress rules, then drop. Traffic from the uplink reaches ports only through a
  floating IP. NAT: floating IPs (DNAT in, SNAT out), the other ports masqueraded behind
  the network's external IP, and 169.254.169.254:80 redirected to the metadata listener.
  The input hook lets into the namespace itself only what the network's VMs need
  (DHCP, DNS, metadata through the redirect, ping): its dnsmasq is no open resolver for
  the public side.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from labs.network.agent import netns
from labs.network.agent.drivers.bridge.state import PortRecord
from labs.network.specs import NetworkSpec, SecurityRule

log = logging.getLogger("labs.network.agent.drivers.bridge.nft")

METADATA_IP = "169.254.169.254"
TABLES = ("bridge labs", "inet labs")
#: Where BOOTP's client hardware address starts, in bits from the UDP header.
DHCP_CHADDR_BITS = (8 + 28) * 8
#: What a port may send to DHCP servers: a client needs a few packets a minute.
DHCP_RATE = "5/second burst 20 packets"


@dataclass(frozen=True)
class Wiring:
    """The interface names and listener a network's rules refer to."""

    bridge: str
    uplink: str | None
    metadata: tuple[str, int] | None  # (address, port) of the metadata listener


def _match(rule: SecurityRule, port: PortRecord) -> str | None:
    """The nft match of one rule (without verdict); None if it can match nothing."""
    peer = "saddr" if rule.direction == "ingress" else "daddr"
    parts: list[str] = []
    if rule.remote_cidr is not None:
        net = ipaddress.IPv4Network(rule.remote_cidr, strict=False)
        parts.append(f"ip {peer} {net}")
    elif rule.remote_group is not None:
        members = sorted(set(port.group_members.get(rule.remote_group, ())),
                         key=ipaddress.IPv4Address)
        if not members:
            return None
        parts.append(f"ip {peer} {{ {', '.join(members)} }}")
    if rule.protocol in ("tcp", "udp"):
        if rule.port_min is None:
            parts.append(f"meta l4proto {rule.protocol}")
        elif rule.port_max is None or rule.port_max == rule.port_min:
            parts.append(f"{rule.protocol} dport {rule.port_min}")
        else:
            parts.append(f"{rule.protocol} dport {rule.port_min}-{rule.port_max}")
    elif rule.protocol == "icmp":
        parts.append("meta l4proto icmp")
        if rule.port_min is not None:
            parts.append(f"icmp type {rule.port_min}")
        if rule.port_max is not None:
            parts.append(f"icmp code {rule.port_max}")
    return " ".join(parts)


def _rules(port: PortRecord, direction: str, verdict: str) -> list[str]:
    """The port's rules of one direction, each as a line ending in `verdict`."""
    lines = []
    for rule in port.rules:
        match = _match(rule, port) if rule.direction == direction else None
        if match is not None:
            lines.append("    " + " ".join(filter(None, (match, verdict))))
    return lines


def _vmap(items: Sequence[tuple[str, str]]) -> str:
    return "vmap { " + ", ".join(f"{key} : jump {chain}" for key, chain in items) + " }"


def render(spec: NetworkSpec, wiring: Wiring, ports: Sequence[PortRecord]) -> str:
    """The network's whole ruleset, as an `nft -f` script replacing the previous one."""
    ports = sorted(ports, key=lambda r: r.device)
    out: list[str] = []
    for table in TABLES:  # "add then delete" works whether or not the table exists
        out += [f"table {table}", f"delete table {table}"]
    out += _bridge_table(ports)
    out += ["table inet labs {", *_port_forwarding(spec, wiring, ports)]
    out += _input(spec, wiring)
    out += [*_nat(spec, wiring, ports), "}"]
    return "\n".join(out) + "\n"


def _bridge_table(ports: Sequence[PortRecord]) -> list[str]:
    """Layer 2: each port sends only from its own MAC and IP (and asks DHCP only for
    itself); broadcasts and multicasts meet each receiving port's ingress rules."""
    out = ["table bridge labs {",
           "  chain prerouting {",
           "    type filter hook prerouting priority -200; policy accept;"]
    if ports:
        out.append("    iifname " + _vmap([(f'"{r.device}"', f"from-{r.device}")
                                          for r in ports]))
    out.append("  }")
    for r in ports:
        out += _spoofing_filter(r)
    # A broadcast or multicast matches no port's address in the inet rules below, so
    # each receiving port's ingress rules are met here, statelessly.
    out += ["  chain forward {",
            "    type filter hook forward priority 0; policy accept;"]
    secured = [r for r in ports if r.port_security]
    if secured:
        out.append("    meta pkttype { broadcast, multicast } ether type ip oifname "
                   + _vmap([(f'"{r.device}"', f"flood-{r.device}") for r in secured]))
    out.append("  }")
    for r in secured:
        out += [f"  chain flood-{r.device} {{", *_rules(r, "ingress", "accept"),
                "    drop", "  }"]
    out.append("}")
    return out


def _spoofing_filter(r: PortRecord) -> list[str]:
    """What a port may send: from its own MAC and IP or an allowed address pair's, and
    DHCP only for itself; anything, with port security off."""
    if not r.port_security:
        return [f"  chain from-{r.device} {{", "    accept", "  }"]
    mac, ip = r.port.mac, r.port.ip
    sources = [(mac, ip), *((p.mac or mac, p.ip) for p in r.allowed_pairs)]
    macs = ", ".join(sorted({m for m, _ in sources}))
    return [f"  chain from-{r.device} {{",
            f"    ether saddr != {{ {macs} }} drop",
            *(f"    ether type arp ether saddr {m} arp saddr ether {m} arp saddr ip {a} "
              "accept" for m, a in [*sources, (mac, "0.0.0.0")]),
            "    ether type arp drop",
            # a VM answering DHCP would hand the other VMs its own gateway and DNS
            "    udp sport 67 udp dport 68 drop",
            # DHCP only for its own MAC (BOOTP's chaddr), at a pace no flood keeps up:
            # dnsmasq logs what it refuses, and the log is the host's disk
            f"    udp dport 67 @th,{DHCP_CHADDR_BITS},48 != 0x{mac.replace(':', '')} drop",
            f"    udp dport 67 limit rate over {DHCP_RATE} drop",
            f"    ether saddr {mac} ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept",
            *(f"    ether saddr {m} ip saddr {a} accept" for m, a in sources),
            "    drop",
            "  }"]


def _pair_jumps(ports: Sequence[PortRecord], key: str, chain: str) -> list[str]:
    """Jumps for traffic from or to a port's allowed address pairs (after the ports' own
    addresses, so an address of a port itself goes to that port's chain)."""
    return [f"    {key} {p.ip} jump {chain}-{r.device}"
            for r in ports for p in r.allowed_pairs]


def _port_forwarding(spec: NetworkSpec, wiring: Wiring,
                     ports: Sequence[PortRecord]) -> list[str]:
    """Layer 3: each port's security rules, on what other ports, the public side and
    the namespace itself send it, and on what it sends when it has egress rules."""
    br, up = f'"{wiring.bridge}"', f'"{wiring.uplink}"'
    out = ["  chain forward {",
           "    type filter hook forward priority 0; policy accept;",
           "    ct state established,related accept",
           "    ct state invalid drop"]
    if wiring.uplink:
        out.append(f"    iifname {up} oifname {br} ct status & dnat == 0 drop")
    ports = [r for r in ports if r.port_security]  # the others are not filtered
    egress = [r for r in ports if any(x.direction == "egress" for x in r.rules)]
    if egress:
        out.append(f"    iifname {br} ip saddr "
                   + _vmap([(r.port.ip, f"egress-{r.device}") for r in egress]))
        out += _pair_jumps(egress, f"iifname {br} ip saddr", "egress")
    if ports:
        out.append(f"    oifname {br} ip daddr "
                   + _vmap([(r.port.ip, f"ingress-{r.device}") for r in ports]))
        out += _pair_jumps(ports, f"oifname {br} ip daddr", "ingress")
    out.append("  }")
    # what the namespace itself sends to a port (an operator's ssh from the gateway, say)
    # meets the same ingress rules as traffic from other ports
    out += ["  chain output {",
            "    type filter hook output priority 0; policy accept;",
            "    ct state established,related accept"]
    if ports:
        out.append(f"    oifname {br} ip daddr "
                   + _vmap([(r.port.ip, f"ingress-{r.device}") for r in ports]))
        out += _pair_jumps(ports, f"oifname {br} ip daddr", "ingress")
    out.append("  }")
    for r in egress:
        out += [f"  chain egress-{r.device} {{", *_rules(r, "egress", "return"),
                "    drop", "  }"]
    for r in ports:
        out += [f"  chain ingress-{r.device} {{",
                f"    ip saddr {spec.gateway} udp sport 67 udp dport 68 accept",
                *_rules(r, "ingress", "accept"), "    drop", "  }"]
    return out


def _nat(spec: NetworkSpec, wiring: Wiring, ports: Sequence[PortRecord]) -> list[str]:
    """The metadata address, floating IPs in and out, and the network's outbound NAT."""
    br, up = f'"{wiring.bridge}"', f'"{wiring.uplink}"'
    out = ["  chain prerouting {",
           "    type nat hook prerouting priority dstnat; policy accept;"]
    if wiring.metadata is not None:
        address, port = wiring.metadata
        out.append(f"    iifname {br} ip daddr {METADATA_IP} tcp dport 80 "
                   f"dnat ip to {address}:{port}")
    for r in ports:
        out += [f"    ip daddr {fip} dnat ip to {r.port.ip}" for fip in r.floating_ips]
    out += ["  }",
            "  chain postrouting {",
            "    type nat hook postrouting priority srcnat; policy accept;"]
    if wiring.uplink:
        for r in ports:
            out += [f"    oifname {up} ip saddr {r.port.ip} snat ip to {fip}"
                    for fip in r.floating_ips[:1]]
        out.append(f"    oifname {up} ip saddr {spec.cidr} masquerade")
    out.append("  }")
    return out


def _input(spec: NetworkSpec, wiring: Wiring) -> list[str]:
    """What may reach the namespace itself: from the network's VMs, DHCP, DNS to
    dnsmasq, the metadata listener through the redirect only, and ping; from the public
    side only ping and answers (dnsmasq and the listeners are nobody else's)."""
    br, gateway = f'"{wiring.bridge}"', spec.gateway
    out = ["  chain input {",
           "    type filter hook input priority 0; policy drop;",
           '    iif "lo" accept',
           "    ct state established,related accept",
           f"    iifname {br} udp sport 68 udp dport 67 accept",
           f"    iifname {br} ip daddr {gateway} meta l4proto {{ tcp, udp }} th dport 53 "
           "accept"]
    if wiring.metadata is not None:
        address, port = wiring.metadata
        out.append(f"    iifname {br} ip daddr {address} tcp dport {port} ct status dnat "
                   "accept")
    out += ["    icmp type echo-request accept",
            "  }"]
    return out


def apply(namespace: str, ruleset: str) -> None:
    """Replace the namespace's Labs tables by `ruleset` in one transaction."""
    netns.require_tools("nft")
    netns.run(["nft", "-f", "-"], netns=namespace, input=ruleset)
    log.debug("applied the nftables rules of %s", namespace)


def listing(namespace: str) -> str:
    """The namespace's whole ruleset as nft prints it (for checks and debugging)."""
    return netns.run(["nft", "list", "ruleset"], netns=namespace).stdout
