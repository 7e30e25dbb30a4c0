"""Disk images as bytes: what format they really are, and qemu-img held to limits.

Shared by the image service (checks of uploads) and the qemu driver (checks before boot)."""
