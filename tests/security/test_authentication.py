"""Authentication on every endpoint: an anonymous or forged caller gets 401, never data."""

from __future__ import annotations

import pytest

from tests.security.daemons import RunningHub, RunningSite

HUB_PATHS = ["/v1/projects", "/v1/users", "/v1/flavors", "/v1/images", "/v1/sites",
             "/vnfpkgm/v1/vnf_packages", "/v1/revocations"]  # fmt: skip
SITE_PATHS = ["/v1/servers", "/v1/networks", "/v1/volumes", "/v1/images", "/v1/flavors"]


@pytest.mark.parametrize("path", HUB_PATHS)
def test_hub_refuses_anonymous_and_forged(hub: RunningHub, path: str) -> None:
    assert hub.call("GET", path).status == 200
    assert hub.call("GET", path, token="").status == 401
    forged = hub.token[:-6] + ("AAAAAA" if not hub.token.endswith("AAAAAA") else "BBBBBB")
    assert hub.call("GET", path, token=forged).status == 401


@pytest.mark.parametrize("path", SITE_PATHS)
def test_site_refuses_anonymous_and_forged(api_site: RunningSite, path: str) -> None:
    assert api_site.call("GET", path).status == 200
    assert api_site.call("GET", path, token="").status == 401
    forged = api_site.token[:-6] + ("AAAAAA" if not api_site.token.endswith("AAAAAA") else "BBBBBB")
    assert api_site.call("GET", path, token=forged).status == 401


def test_site_token_from_hub_admin_is_not_a_site_credential(
    hub: RunningHub, api_site: RunningSite
) -> None:
    """A token signed by a hub the site does not trust is refused."""
    assert api_site.call("GET", "/v1/servers", token=hub.token).status == 401
