"""The hub's CLI plugin: ``hub``, ``login``, ``token``, ``project``, ``user``, ``role``,
``flavor``, ``site``, ``conflict`` and ``alarm`` groups, one module each, all registered by
:func:`register`.

Registered in pyproject.toml (``[project.entry-points."atoll.cli"] hub =
"atoll.hub.cli:register"``). Modules import nothing heavy at load time: ``atoll --help``
must stay quick.
"""

from __future__ import annotations

from atoll.cli import Subparsers
from atoll.hub.cli import (
    alarm,
    conflict,
    flavor,
    hub,
    login,
    project,
    role,
    site,
    token,
    user,
)

GROUPS = (hub, login, token, project, user, role, flavor, site, conflict, alarm)


def register(groups: Subparsers) -> None:
    for module in GROUPS:
        module.register(groups)
