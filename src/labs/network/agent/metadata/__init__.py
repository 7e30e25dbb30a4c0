"""The metadata service VMs reach at 169.254.169.254."""
