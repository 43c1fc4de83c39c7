"""The hub's VNF lifecycle (ETSI SOL003 v2): it runs the pure :mod:`atoll.nfv.lcm` on the
store and the per-site intent path.

* :mod:`.records`: instances, op occurrences and the one-operation lock in the store.
* :mod:`.targets`: what a request resolves to here (package, sites, images, flavors,
  networks); :mod:`.planner`: each operation's target intent per site, step by step.
* :mod:`.sitework`: writing the instance's intent at one site, and reading its facts back.
* :mod:`.engine`: the engine: starting operations, the loop that drives them, retry,
  rollback, fail, recovery at hub start.
* :mod:`.outbox`: :func:`~.outbox.emit`, how the engine records a notification, once and
  durably (store kind ``lcm_notification``), for delivery to subscribers;
  :mod:`.subscriptions`, :mod:`.callbacks` and :mod:`.delivery` deliver them.
"""
