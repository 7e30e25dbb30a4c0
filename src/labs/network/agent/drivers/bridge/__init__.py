"""The bridge driver: a Linux bridge per network inside a namespace Labs owns, with
dnsmasq and an nftables ruleset of its own."""
