"""Which URIs ``upload_from_uri`` may fetch: the hosts and ports ``vnf_package_uri_hosts``
names (a bare host is its scheme's own port), and a setting that names neither is refused
when the hub starts."""

from __future__ import annotations

import pytest

from atoll.errors import ConfigError, Forbidden
from atoll.hub.catalog.vnf_package_fetch import ANY_PORT, SCHEME_PORT, allowed_uri, uri_hosts

HOSTS = ["Repo.Example", "mirror:8080", "lab:*", "[fd00::1]:8443", "fd00::2"]


def test_the_setting_names_hosts_with_their_ports() -> None:
    assert uri_hosts(HOSTS) == [
        ("repo.example", SCHEME_PORT),
        ("mirror", 8080),
        ("lab", ANY_PORT),
        ("fd00::1", 8443),
        ("fd00::2", SCHEME_PORT),
    ]


@pytest.mark.parametrize(
    "uri",
    [
        "https://repo.example/p.zip",
        "https://repo.example:443/p.zip",
        "http://repo.example/p.zip",
        "http://mirror:8080/p.zip",
        "http://lab:1/p.zip",
        "https://[fd00::1]:8443/p.zip",
        "https://[fd00::2]/p.zip",
    ],
)
def test_a_uri_on_a_listed_host_and_port_is_fetched(uri: str) -> None:
    assert allowed_uri(uri, HOSTS) == uri


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("https://repo.example:8443/p.zip", "on port 443 only"),
        ("http://repo.example:22/p.zip", "on port 80 only"),
        ("http://mirror/p.zip", "on port 8080 only"),
        ("https://[fd00::1]/p.zip", "on port 8443 only"),
        ("https://elsewhere/p.zip", "only from the hosts"),
    ],
)
def test_another_port_or_host_is_refused(uri: str, why: str) -> None:
    with pytest.raises(Forbidden, match=why):
        allowed_uri(uri, HOSTS)


@pytest.mark.parametrize("entry", ["host:http", ":80", "host:0", "host:65536", "[fd00::1]:x"])
def test_an_entry_that_is_no_host_and_port_is_a_config_error(entry: str) -> None:
    with pytest.raises(ConfigError, match="vnf_package_uri_hosts"):
        uri_hosts([entry])
