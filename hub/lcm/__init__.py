"""The hub's VNF lifecycle (ETSI SOL003 v2): it runs the pure :mod:`atoll.nfv.lcm` on the
store and the per-site intent path.

* :mod:`.outbox`: :func:`~.outbox.emit`, how the engine records a notification, once and
  durably (store kind ``lcm_notification``), for delivery to subscribers.
"""
