"""Ethernet frames built by hand, for tests that send what a hostile VM could: any
source address, any protocol. Each carries a marker in its payload, so that a sniffer
can tell which of them arrived."""

from __future__ import annotations

import ipaddress
import struct

BROADCAST = "ff:ff:ff:ff:ff:ff"


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ether(dst: str, src: str, kind: int, payload: bytes) -> bytes:
    return _mac(dst) + _mac(src) + struct.pack("!H", kind) + payload


def udp4(src_mac: str, dst_mac: str, src: str, dst: str, sport: int, dport: int,
         marker: str | bytes) -> bytes:
    """An IPv4 UDP datagram (UDP checksum 0: none) carrying `marker`."""
    data = marker.encode() if isinstance(marker, str) else marker
    udp = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                         _ip(src), _ip(dst))
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return ether(dst_mac, src_mac, 0x0800, header + udp)


def arp_reply(src_mac: str, claimed_ip: str, dst_mac: str, dst_ip: str,
              marker: str) -> bytes:
    """An ARP reply saying `claimed_ip` is at `src_mac` (the marker rides as padding)."""
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, _mac(src_mac), _ip(claimed_ip),
                       _mac(dst_mac), _ip(dst_ip))
    return ether(dst_mac, src_mac, 0x0806, body + marker.encode())


def router_advertisement(src_mac: str, marker: str) -> bytes:
    """An IPv6 router advertisement to all nodes, from the VM's link-local address."""
    source = ipaddress.IPv6Address("fe80::" + src_mac.replace(":", "")[-4:])
    icmp = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0) + marker.encode()
    header = struct.pack("!IHBB16s16s", 6 << 28, len(icmp), 58, 255, source.packed,
                         _ip("ff02::1"))
    return ether("33:33:00:00:00:01", src_mac, 0x86DD, header + icmp)


def dhcp_discover(src_mac: str, chaddr: str, xid: int) -> bytes:
    """A DHCPDISCOVER from 0.0.0.0, broadcast, for the client hardware address
    `chaddr` (which a VM may set to anything)."""
    bootp = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000,
                        bytes(4), bytes(4), bytes(4), bytes(4), _mac(chaddr), b"", b"")
    options = bytes.fromhex("63825363") + bytes([53, 1, 1, 255])
    return udp4(src_mac, BROADCAST, "0.0.0.0", "255.255.255.255", 68, 67, bootp + options)
