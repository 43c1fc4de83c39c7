"""The site agent: daemon, local API, reconciler, drivers, local store, site side of sync."""
