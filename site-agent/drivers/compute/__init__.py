"""Compute driver: libvirt (real) and an in-memory fake."""
