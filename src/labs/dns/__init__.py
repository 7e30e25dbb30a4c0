"""The DNS service (Designate v2): zones and recordsets, the sink that names every VM,
and the backends that serve the zones (an embedded authoritative server, PowerDNS)."""
