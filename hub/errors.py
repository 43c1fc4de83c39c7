"""The hub's own errors, on top of the shared tree in :mod:`atoll.errors`::

InvalidInput (400)
└── MethodNotAllowed    method_not_allowed  405  the path exists, the method does not
"""

from __future__ import annotations

from atoll.errors import AtollError, InvalidInput


class MethodNotAllowed(InvalidInput):
    code = "method_not_allowed"
    http_status = 405


class InternalError(AtollError):
    code = "internal"
