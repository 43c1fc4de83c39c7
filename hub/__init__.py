"""The hub: API, identity, catalog, site registry, orchestration, stores, hub side of sync."""
