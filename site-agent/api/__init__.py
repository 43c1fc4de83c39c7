"""The local API (aiohttp), built as the hub's: one module per resource, each exporting
``ROUTES`` (:class:`atoll.api.routing.Route`: method, path, the name the policy table
(:mod:`.policy`) and the generated OpenAPI document (:mod:`.openapi`) know it by, handler,
summary, request and response shapes)."""
