"""The README's settings reference is what the settings classes say today."""

from __future__ import annotations

import dataclasses

from tests import settings_reference


def test_readme_lists_every_setting_as_the_code_has_it() -> None:
    readme = settings_reference.README.read_text()
    assert settings_reference.current(readme) == settings_reference.reference(), (
        "the README's settings reference is stale: "
        "run .venv/bin/python -m tests.settings_reference --write"
    )


def test_descriptions_come_from_the_comments_beside_each_field() -> None:
    from atoll.hub.settings import HubSettings

    what = settings_reference.descriptions(HubSettings)
    assert what["token_ttl"].startswith("seconds a token issued by password")
    assert what["password_time_cost"].startswith("argon2id cost")
    assert what["password_memory_kib"] == "(as above)"  # one comment over a group
    assert what["keystone_region"] == "the region the Keystone facade's catalog names"
    assert set(what) == {f.name for f in dataclasses.fields(HubSettings)}
