"""The hub side of sync: ``GET /v1/sync`` sessions, the change feed fanned out to them,
facts and operation records recorded, liveness (see ``sync/PROTOCOL.md``)."""
