"""Compute (Nova v2.1): the API, conductor, scheduler, per-host agents, virt drivers."""
