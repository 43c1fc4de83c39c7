"""``/v1/flavors``: list, show, create (vcpus and RAM a server is given)."""

from __future__ import annotations

from atoll.resources import FlavorSpec
from atoll.site_agent import specs
from atoll.site_agent.api.objects import crud, view
from atoll.site_agent.resources import Resources

ROUTES = crud(
    "flavor",
    "flavors",
    Resources.create_flavor,
    specs.FLAVOR,
    view("flavor", FlavorSpec),
    delete=False,
)
