"""The hub's routes are the shared core's :class:`atoll.api.routing.Route` (the site agent's
API is built on it too). Kept under this name for the modules that import it here."""

from atoll.api.routing import Handler, Route

__all__ = ["Handler", "Route"]
