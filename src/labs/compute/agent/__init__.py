"""The compute agent process: one per host, runs the virt driver and the host's
networking; it holds no database credentials."""
