"""The hub <-> site wire protocol, shared by both ends and knowing neither (``PROTOCOL.md``).

- :mod:`.frames`: every frame as a typed model (``hello`` ... ``error``) and ``MAX_ITEMS``.
- :mod:`.codec`: frame bytes <-> frames; the only reader and writer of the bytes;
  ``FrameError`` for anything that cannot be accepted.
- :mod:`.versions`: the protocol's version history, ``negotiate`` and ``supports``.
- :mod:`.digest`: anti-entropy by range-based set reconciliation: ``Items``, the hub's
  ``Reconciler``, the site's ``respond``, ``Difference``.
- :mod:`.window`: a sender's window of unacked frames: cumulative acks, resend on reconnect.
- :mod:`.backoff`: reconnect delays, exponential with full jitter and a cap.
- :mod:`.console`: what the last lines of a console log are, for a ``console`` request.

All of it is pure (sans-IO): the sessions at ``atoll.hub`` and ``atoll.site_agent`` own the
sockets, clocks and stores.
"""
