"""Atoll: an edge/telco distributed cloud — one hub, many autonomous sites.

This package is the shared core: the CLI root, typed settings, the error tree, logging and
output formatting. Components live in sibling folders mapped into the ``atoll`` namespace
(``atoll.hub`` <- ``hub/``, ``atoll.site_agent`` <- ``site-agent/``, ...); see
ARCHITECTURE.md for who may import whom.
"""

__version__ = "0.1.0"
