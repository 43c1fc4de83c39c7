"""The hub's REST API: one module per resource, each exporting ``ROUTES``.

Every module has the same shape: request/response :class:`~.schema.Shape` declarations, the
handlers, and ``ROUTES``, a list of :class:`~.routing.Route` naming each operation. The
policy table (:mod:`atoll.hub.identity.policy`) and the OpenAPI document
(:mod:`atoll.hub.openapi`) are keyed by those names.
"""
