"""Network drivers: what an agent uses to give its VMs networks, addresses and filters."""
