"""The hub <-> site wire protocol: frames, codec, versions, sessions, outbox/inbox, digests."""
