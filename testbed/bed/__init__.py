"""``atoll testbed up|status|partition|heal|degrade|kill|restart|down``: a hub and N sites on
one machine, each site agent in a network namespace of its own behind a WAN bridge.

- :mod:`.state`: what a testbed made, recorded in ``<dir>/testbed.json``, and the tag every
  name carries so :mod:`.teardown` finds it all even when the record is stale.
- :mod:`.bringup`: ``up``: WAN bridge, hub, private OVS, site namespaces and agents.
- :mod:`.faults`: partition, heal, degrade (tc netem), kill -9, restart; ``status``.
- :mod:`.teardown`: ``down``.
"""
