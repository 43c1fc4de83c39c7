"""``/v1/networks`` and ``/v1/subnets``: create, list, show, delete."""

from __future__ import annotations

from atoll.resources import NetworkSpec, SubnetSpec
from atoll.site_agent import specs
from atoll.site_agent.api.objects import crud, view
from atoll.site_agent.resources import Resources

ROUTES = [
    *crud(
        "network", "networks", Resources.create_network, specs.NETWORK, view("network", NetworkSpec)
    ),
    *crud("subnet", "subnets", Resources.create_subnet, specs.SUBNET, view("subnet", SubnetSpec)),
]
