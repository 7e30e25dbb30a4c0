"""The image service (Glance v2) and the Labs VM image builder."""
