"""Storage driver: local qcow2, Ceph RBD, and an in-memory fake."""
