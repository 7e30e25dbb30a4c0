"""Networking's host side, run inside each compute agent: the driver that wires
networks on the host, the metadata service and the DNS relay."""
