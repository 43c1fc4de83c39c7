"""Which catalog image a VNFD node gets, and the package state rules."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atoll.errors import Conflict
from atoll.hub.catalog import vnf_packages as pkgs
from atoll.hub.catalog.images import Image
from atoll.nfv.artifacts import ImageNeed
from atoll.nfv.model import Checksum, SwImage

SHA = "ab" * 32


SHA512 = "cd" * 64
MINE = "p" * 32


def need(
    node: str = "VDU1", name: str = "cirros", algorithm: str = "sha-256", sha: str = SHA
) -> ImageNeed:
    image = SwImage(
        name, "1.0", Checksum(algorithm, sha), "bare", "qcow2", 2**30, None, 2**30, None, False
    )
    return ImageNeed("simple", node, image)


def image(
    image_id: str, name: str, sha: str = "00" * 32, project_id: str | None = None, **more: Any
) -> Image:
    """A catalog image record: active and private unless ``more`` says otherwise."""
    return Image(id=image_id, name=name, checksum_sha256=sha, project_id=project_id, **more)


def find(need: ImageNeed, catalog: list[Image], image_map: dict[str, str]) -> Any:
    return pkgs.find_image(need, catalog, image_map, MINE)


def test_a_declared_checksum_must_match_mapped_or_not() -> None:
    catalog = [image("i1", "cirros"), image("i2", "other", SHA), image("i3", "mapped")]
    assert find(need(), catalog, {"VDU1": "i2"})[0] == catalog[1]
    assert find(need(), catalog, {"VDU1": "other"})[0] == catalog[1]
    assert find(need(), catalog, {})[0] == catalog[1]
    found, problem = find(need(), catalog, {"VDU1": "mapped"})
    assert found is None and problem.where == "image_map.VDU1"
    assert "VDU1" in problem.what and "sha-256" in problem.what and "does not match" in problem.what
    # a name alone is never enough when the VNFD declares a checksum
    found, problem = find(need(algorithm="sha-512", sha=SHA512), catalog, {})
    assert found is None and "sha-512" in problem.what
    with512 = image("i4", "x", checksum_sha512=SHA512)
    assert find(need(algorithm="sha-512", sha=SHA512), [*catalog, with512], {})[0] == with512
    # a VNFD declaring no checksum is matched by name
    assert find(need(sha=""), catalog, {})[0] == catalog[0]


def test_the_projects_own_image_comes_before_a_public_one() -> None:
    public = image("pub", "cirros", SHA, None, visibility="public")
    other = image("oth", "cirros", SHA, "o" * 32, visibility="public")
    mine = image("mine", "renamed", SHA, MINE)
    assert find(need(), [public, other, mine], {})[0] == mine
    assert find(need(), [public, other], {})[0] == public


def test_what_is_wrong_is_named() -> None:
    found, problem = find(need(), [], {})
    assert found is None and problem is not None
    assert problem.where == "flavour simple: VDU1.sw_image_data"
    assert "--image-map VDU1=IMAGE" in problem.what and "'cirros'" in problem.what
    twins = [image("i1", "cirros"), image("i2", "cirros")]
    _, problem = find(need(sha=""), twins, {})
    assert problem is not None and "2 catalog images are named 'cirros'" in problem.what
    _, problem = find(need(), twins, {"VDU1": "cirros"})
    assert problem is not None and problem.where == "image_map.VDU1"
    (extra,) = pkgs.unknown_map_entries({"VDU9": "x", "VDU1": "y"}, [need()])
    assert extra.where == "image_map.VDU9"


STATES = st.fixed_dictionaries(
    {
        "id": st.just("p"),
        "project": st.just("a"),
        "project_id": st.just(MINE),
        "onboardingState": st.sampled_from(pkgs.ONBOARDING_STATES),
        "operationalState": st.sampled_from((pkgs.ENABLED, pkgs.DISABLED)),
        "usageState": st.sampled_from((pkgs.IN_USE, pkgs.NOT_IN_USE)),
    }
)


def allowed(check: Any, *args: Any) -> bool:
    try:
        check(*args)
    except Conflict:
        return False
    return True


@given(STATES)
def test_state_rules_match_sol005(value: dict[str, str]) -> None:
    record = pkgs.PackageRecord.from_value(value)
    package = value
    deletable = (
        package["operationalState"] == pkgs.DISABLED
        and package["usageState"] == pkgs.NOT_IN_USE
        and package["onboardingState"] != pkgs.PROCESSING
    )
    assert allowed(record.check_deletable) == deletable
    assert allowed(record.check_uploadable) == (
        package["onboardingState"] in (pkgs.CREATED, pkgs.ERROR)
    )
    assert allowed(record.check_state_change, pkgs.ENABLED) == (
        package["onboardingState"] == pkgs.ONBOARDED
    )
    assert allowed(record.check_state_change, pkgs.DISABLED)


JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.text(max_size=4)
UNKNOWN = st.dictionaries(
    st.text(min_size=1, max_size=6).filter(
        lambda k: (
            k
            not in pkgs.PackageRecord.from_value(
                {"id": "p", "project": "a", "project_id": MINE}
            ).to_value()
        )
    ),
    JSON_LEAVES,
    max_size=3,
)


@given(STATES, UNKNOWN)
def test_the_record_round_trips_and_keeps_unknown_fields(
    value: dict[str, str], unknown: dict[str, Any]
) -> None:
    stored = pkgs.PackageRecord.from_value({**value, **unknown}).to_value()
    assert {k: stored[k] for k in (*value, *unknown)} == {**value, **unknown}
    again = pkgs.PackageRecord.from_value(stored)
    assert again.to_value() == stored
    assert again.onboarding_state == value["onboardingState"] and again.project_id == MINE


def test_new_packages_have_every_sol005_field() -> None:
    value = pkgs.new_package("p", "a", MINE, {"k": "v"}, "2030-01-01T00:00:00Z")
    assert value["onboardingState"] == "CREATED" and value["userDefinedData"] == {"k": "v"}
    assert value["softwareImages"] == [] and value["additionalArtifacts"] == []
    assert value["_imageMap"] == {} and value["createdAt"] == value["updatedAt"]


@pytest.mark.parametrize("algorithm", ["SHA-256", "sha256", "sha_256"])
def test_sha256_spellings_match_by_checksum(algorithm: str) -> None:
    catalog = [image("i2", "other", SHA)]
    assert find(need(algorithm=algorithm), catalog, {})[0] == catalog[0]


def test_only_active_images_of_the_project_or_public_are_usable() -> None:
    a = image("i1", "mine", project_id="a")
    assert pkgs.image_usable(a, "a")
    assert pkgs.image_usable(image("i2", "theirs", project_id="b", visibility="public"), "a")
    assert not pkgs.image_usable(image("i3", "theirs", project_id="b"), "a")
    assert not pkgs.image_usable(replace(a, status="queued"), "a")
    assert not pkgs.image_usable(image("i4", "named", project="a"), "a")  # by id only
