"""The parts of pyroute2 the network driver uses, loaded without pyroute2's package ``__init__``.

``import pyroute2`` (or ``from pyroute2 import IPRoute``) runs its ``__init__``, which imports
every API the library has: NDB with its own SQLite schema, IPDB, conntrack, nftables, ipset,
WireGuard, nl80211, Plan 9, psutil and multiprocessing, about 160 modules. The driver needs
four: the synchronous ``IPRoute``, ``netns``, the ethtool ioctls and ``NetlinkError``.
Measured on the bench machine beside the agent's other libraries: the package costs 9.1 MB
of RSS, these four 5.0 MB (``bench/bench_site_agent.py``'s import cost lines).

So the package module is created from its spec but not executed: its ``__path__`` is set, so
its submodules import as usual, and pyroute2's own modules only ever import submodules from
the package (``from pyroute2 import config, netns``; the ``from pyroute2 import IPRoute`` lines
in its sources are in docstrings). If something else in the process imported the whole
package first, that one is used as it is.
"""

from __future__ import annotations

import importlib.util
import sys


def _package_without_init() -> None:
    if "pyroute2" in sys.modules:
        return
    spec = importlib.util.find_spec("pyroute2")
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError("pyroute2 is not installed (a dependency of atoll)")
    sys.modules["pyroute2"] = importlib.util.module_from_spec(spec)


_package_without_init()

from pyroute2 import netns  # noqa: E402
from pyroute2.ethtool.ioctl import IoctlEthtool, NoSuchDevice, NotSupportedError  # noqa: E402
from pyroute2.iproute.linux import IPRoute  # noqa: E402
from pyroute2.netlink.exceptions import NetlinkError  # noqa: E402

__all__ = ["IPRoute", "IoctlEthtool", "NetlinkError", "NoSuchDevice", "NotSupportedError", "netns"]
