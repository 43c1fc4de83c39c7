"""Storage driver: local qcow2 (``LocalStorage``, qemu-img) and an in-memory fake.

Ceph RBD is not implemented yet: it is out of scope for the first site agent, and would
be another ``StorageDriver`` beside ``LocalStorage`` (paths become ``rbd:`` sources).
"""
