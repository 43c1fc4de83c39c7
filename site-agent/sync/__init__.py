"""The site end of sync (``sync/PROTOCOL.md``): one mTLS websocket to the hub's ``/v1/sync``.

- :mod:`.session`: :class:`~.session.SyncClient`, the connection (hello/welcome, frames
  both ways, heartbeats, reconnects with jittered exponential backoff) and its figures.
- :mod:`.inbox`: hub changes and snapshots persisted to the inbox before they are acked,
  then applied in order through :class:`atoll.site_agent.hub_intent.HubIntent`.
- :mod:`.facts`: what goes up: observed statuses (compacted, each with its seq) merged in seq
  order with the outbox (events, operation records, telemetry batches).

Nothing here is on the local API's path: with the hub gone the agent works as before.
"""
