"""One typed model of what crosses between hub and site: intent (specs) and facts (statuses).

Hub, site, sync and the lifecycle engine all speak it. Every model is a frozen, keyword-only
dataclass with ``to_wire()`` (plain msgpack/JSON-safe values) and ``from_wire()`` (checks
every field and rule, raising :class:`~atoll.errors.InvalidInput` with each problem's path).
Fields a newer peer sent are kept in ``extra`` and written back, so an older site passes them
through unchanged.

- :mod:`.fields`: the one decoder/encoder (annotations -> checks); :mod:`.model`: the base.
- :mod:`.meta`: id, name, project id, labels, owner reference (VNF instance / VDU).
- :mod:`.compute`: server (NICs, user data, restart policy, power), flavor, image reference.
- :mod:`.network`: network, subnet, port. :mod:`.storage`: volume.
- :mod:`.envelope`: :class:`Desired` (kind, meta, spec, origin, hub revision),
  :class:`Observed` (state, message, the site's sequence number, typed facts) and
  :class:`Event` (what happened to an object at a site, with a message for a person).
- :mod:`.versions`: the version history, the oldest accepted, upgrades of old payloads.
"""

from atoll.ids import Origin
from atoll.resources.compute import (
    AddressFact,
    FlavorExtras,
    FlavorSpec,
    ImageRef,
    NicSpec,
    ServerFacts,
    ServerSpec,
)
from atoll.resources.envelope import (
    FACTS,
    MAX_MESSAGE,
    SPECS,
    Desired,
    Event,
    Kind,
    Observed,
    clip,
)
from atoll.resources.meta import Meta, OwnerRef
from atoll.resources.model import Model
from atoll.resources.network import AllocationPool, NetworkSpec, PortSpec, SubnetSpec
from atoll.resources.storage import VolumeSpec

__all__ = [
    "FACTS",
    "MAX_MESSAGE",
    "SPECS",
    "AddressFact",
    "AllocationPool",
    "Desired",
    "Event",
    "FlavorExtras",
    "FlavorSpec",
    "ImageRef",
    "Kind",
    "Meta",
    "Model",
    "NetworkSpec",
    "NicSpec",
    "Observed",
    "Origin",
    "OwnerRef",
    "PortSpec",
    "ServerFacts",
    "ServerSpec",
    "SubnetSpec",
    "VolumeSpec",
    "clip",
]
