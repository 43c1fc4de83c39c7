"""``open_store``: the hub's ``--store`` setting to a backend, and clear errors for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atoll.errors import ConfigError
from atoll.hub.store import open_store, parse_endpoints
from atoll.hub.store.etcd import EtcdStore
from atoll.hub.store.sqlite import SQLiteStore


async def test_sqlite_default_lives_in_the_data_dir(tmp_path: Path) -> None:
    store = open_store("sqlite", tmp_path)
    assert isinstance(store, SQLiteStore) and store.path == tmp_path / "hub.db"
    other = open_store("sqlite:///srv/atoll/hub.db", tmp_path)
    assert isinstance(other, SQLiteStore) and other.path == Path("/srv/atoll/hub.db")
    await store.close()
    await other.close()


async def test_etcd_endpoints() -> None:
    store = open_store("etcd://10.0.0.1:2379,etcd-2:2380", Path("/unused"))
    assert isinstance(store, EtcdStore)
    assert store.endpoints == [("10.0.0.1", 2379), ("etcd-2", 2380)]
    assert parse_endpoints("etcd://[::1]:2379") == [("::1", 2379)]
    await store.close()


@pytest.mark.parametrize(
    "url",
    ["", "postgres://x", "sqlite://relative.db", "sqlite:///", "etcd://", "etcd://host",
     "etcd://host:0", "etcd://host:port", "etcd://a:1,,b:2", "etcd://:2379", "etcd://a b:1",
     "etcd://a:\uff11"],
)  # fmt: skip
def test_bad_urls_say_what_is_wrong(url: str) -> None:
    with pytest.raises(ConfigError, match="store"):
        open_store(url, Path("/unused"))


HOSTS = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,10}){0,2}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
)


@given(st.lists(st.tuples(HOSTS, st.integers(1, 65535)), min_size=1, max_size=5))
def test_endpoints_round_trip(endpoints: list[tuple[str, int]]) -> None:
    url = "etcd://" + ",".join(f"{h}:{p}" for h, p in endpoints)
    assert parse_endpoints(url) == endpoints


@given(st.text(max_size=40))
def test_any_text_is_a_store_or_a_config_error(url: str) -> None:
    try:
        parse_endpoints("etcd://" + url)
    except ConfigError as exc:
        assert url.strip() == "" or "HOST:PORT" in str(exc)
