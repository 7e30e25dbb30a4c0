"""The DNS relay between the networks' dnsmasq and the cloud's authoritative server."""
