"""Network driver: OVS via ovsdbapp, host links via pyroute2, and an in-memory fake."""
