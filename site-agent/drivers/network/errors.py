"""Errors the network driver raises, derived from the shared tree in :mod:`atoll.errors`.

Every class below is also a :class:`NetworkError`, so ``except NetworkError`` catches all of
them; the second base says whether a retry can help, so the reconciler decides retry and log
level from the type alone::

    NetworkError (marker)                 atoll base        retry?
    ├── NetworkUnavailable                TemporaryError    yes: OVSDB/vswitchd down or slow
    ├── NetworkFailure                    PermanentError    no: a host tool or the kernel
    │                                                           refused (the message says what)
    ├── NetworkSpecInvalid                InvalidInput      no: fix the network/port spec
    │   └── AddressOutOfRange             InvalidInput      no: requested IP not in the subnet
    ├── NetworkNotFound                   NotFound          no
    ├── PortNotFound                      NotFound          no
    ├── AddressInUse                      Conflict          no: pick another address
    ├── SegmentInUse                      Conflict          no: the VLAN/flat segment is taken
    ├── SubnetExhausted                   Conflict          no: the subnet has no free address
    └── VfExhausted                       Conflict          no: no free SR-IOV VF on the physnet

Library errors (ovsdbapp, pyroute2 ``NetlinkError``, a failing ``ovs-ofctl``) are translated
at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations

from atoll.errors import (
    AtollError,
    Conflict,
    InvalidInput,
    NotFound,
    PermanentError,
    Problem,
    TemporaryError,
)


class NetworkError(AtollError):
    """Marker base of every network driver error."""


class NetworkUnavailable(NetworkError, TemporaryError):
    """OVSDB or ovs-vswitchd did not answer in time; retrying later may help."""

    code = "network_unavailable"


class NetworkFailure(NetworkError, PermanentError):
    """A host operation failed in a way a retry will not fix (bad device, refused flow)."""

    code = "network_failure"


class NetworkSpecInvalid(NetworkError, InvalidInput):
    """A network or port spec is wrong; ``problems`` says where."""

    code = "network_spec_invalid"

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        InvalidInput.__init__(self, message, problems)


class AddressOutOfRange(NetworkSpecInvalid):
    """A requested fixed IP is outside the subnet or its allocation pools, or reserved."""

    code = "address_out_of_range"


class NetworkNotFound(NetworkError, NotFound):
    code = "network_not_found"


class PortNotFound(NetworkError, NotFound):
    code = "port_not_found"


class AddressInUse(NetworkError, Conflict):
    """The requested address is already allocated to another port."""

    code = "address_in_use"


class SegmentInUse(NetworkError, Conflict):
    """Another network already uses this VLAN id, or the physical network's flat segment."""

    code = "segment_in_use"


class SubnetExhausted(NetworkError, Conflict):
    """No free address is left in a subnet's allocation pools."""

    code = "subnet_exhausted"


class VfExhausted(NetworkError, Conflict):
    """No free SR-IOV virtual function is left on the physical network."""

    code = "vf_exhausted"
