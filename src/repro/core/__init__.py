"""Shared machinery: seeding, devices, provenance-stamped io, training loop, plotting style, claims."""
