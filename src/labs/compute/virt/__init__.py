"""Virt drivers: what an agent uses to run instances on its host."""
