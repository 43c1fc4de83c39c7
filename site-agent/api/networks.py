"""``/v1/networks`` and ``/v1/subnets``: create, list, show, delete."""

from __future__ import annotations

from atoll.resources import NetworkSpec, SubnetSpec
from atoll.site_agent import specs
from atoll.site_agent.api.objects import crud, view
from atoll.site_agent.resources import Resources


async def create_network(resources: Resources, body: object) -> dict[str, object]:
    return await resources.create_network(body)


async def create_subnet(resources: Resources, body: object) -> dict[str, object]:
    return await resources.create_subnet(body)


ROUTES = [
    *crud("network", "networks", create_network, specs.NETWORK, view("network", NetworkSpec)),
    *crud("subnet", "subnets", create_subnet, specs.SUBNET, view("subnet", SubnetSpec)),
]
