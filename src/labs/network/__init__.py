"""Networking (nova-network style, flat DHCP per project): drivers that wire the host."""
