"""VIM access information a request brings (``vimConnectionInfo.*.accessInfo``) is
write-only: it reaches no store record, no reply, no list and no notification.

Before: the whole instantiate body was the op occurrence's ``operationParams``, so a
project reader read a member's VIM password back from the op occurrence (and the list
with ``all_fields``), and it sat in the store and its notification records for good.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from atoll.hub.lcm import outbox, records
from atoll.hub.migrations import migrate
from atoll.hub.store.query import list_all
from tests.hub.api.vnf_packages import package_api
from tests.hub.conftest import AiohttpClient
from tests.hub.lcm.lcmtest import INSTANCES, OCCS, VNFD_ID, Lcm, lcm_hub

SECRETS = ("S3CRET-VIM-PASSWORD", "S3CRET-CLIENT", "S3CRET-BEARER", "S3CRET-IFACE")
VIM_INFO = {
    "vim1": {
        "vimId": "c2e4f1a8",
        "vimType": "ETSINFV.OPENSTACK_KEYSTONE.V_3",
        "interfaceInfo": {"endpoint": "https://keystone.example/v3", "token": SECRETS[3]},
        "accessInfo": {"username": "nfv_user", "region": "RegionOne", "password": SECRETS[0],
                       "client_secret": SECRETS[1], "bearer_token": SECRETS[2]},
    },
}  # fmt: skip
KEPT = {
    "vim1": {
        "vimId": "c2e4f1a8",
        "vimType": "ETSINFV.OPENSTACK_KEYSTONE.V_3",
        "interfaceInfo": {"endpoint": "https://keystone.example/v3"},
    },
}


@pytest.fixture
async def lcm(aiohttp_client: AiohttpClient, signing_key: Ed25519PrivateKey, tmp_path: Path) -> Lcm:
    return await lcm_hub(await package_api(aiohttp_client, signing_key, tmp_path / "hub"))


def holds_a_secret(data: Any) -> bool:
    text = repr(data)
    return any(s in text for s in SECRETS)


async def test_vim_credentials_in_a_request_are_kept_nowhere_and_shown_to_no_one(
    lcm: Lcm,
) -> None:
    reader = await lcm.api.user_with_role("ar", "a", "reader")
    instance_id = await lcm.instance()
    body = {"flavourId": "simple", "vimConnectionInfo": VIM_INFO}
    op_id = await lcm.instantiate(instance_id, vimConnectionInfo=VIM_INFO)
    pkg = await lcm.task(instance_id, "change_vnfpkg", {"vnfdId": VNFD_ID,
                                                        "vimConnectionInfo": VIM_INFO})  # fmt: skip
    await lcm.until(pkg, "COMPLETED", "FAILED_TEMP")
    for token in (lcm.token, reader):
        for path in (f"{OCCS}/{op_id}", f"{OCCS}?all_fields", f"{OCCS}?fields=operationParams",
                     f"{INSTANCES}/{instance_id}", f"{INSTANCES}?all_fields"):  # fmt: skip
            status, shown, _ = await lcm.call("GET", path, token=token)
            assert status == 200 and not holds_a_secret(shown), (path, shown)
        # nor can a filter on it tell a secret's value
        attribute = "operationParams/vimConnectionInfo/vim1/accessInfo/password"
        probe = f"{OCCS}?filter=(cont,{attribute},S3)"
        status, found, _ = await lcm.call("GET", probe, token=token)
        assert status == 200 and found == [], found
    occ = await lcm.occ(op_id)
    params = occ["operationParams"]
    assert params == {**body, "vimConnectionInfo": KEPT}  # what is not secret is kept
    # the store never held it: no record, at any revision (notifications included)
    changes = await lcm.api.store.changes(0, limit=1_000_000)
    assert changes and not holds_a_secret([(c.kind, c.value) for c in changes])
    notes = await list_all(lcm.api.store, outbox.KIND, {})
    assert any(n.value.get("vnfLcmOpOcc", {}).get("id") == op_id for n in notes)


async def test_what_an_earlier_hub_stored_is_hidden_and_then_scrubbed(lcm: Lcm) -> None:
    instance_id = await lcm.instance()
    op_id = await lcm.instantiate(instance_id)
    # as a hub before the fix stored it: the body as sent, in the op occurrence and in the
    # notification records that carry it
    sent = {"flavourId": "simple", "vimConnectionInfo": VIM_INFO}
    record = await lcm.api.store.get(records.OP_OCC, op_id)
    earlier = {**record.value, "occ": {**record.value["occ"], "operationParams": sent}}
    await lcm.api.store.put(records.OP_OCC, op_id, earlier, expect_revision=record.revision)
    note = next(
        n
        for n in await list_all(lcm.api.store, outbox.KIND, {})
        if n.value.get("vnfLcmOpOcc", {}).get("id") == op_id
    )
    noted = {**note.value, "vnfLcmOpOcc": {**note.value["vnfLcmOpOcc"], "operationParams": sent}}
    await lcm.api.store.put(outbox.KIND, note.key, noted, expect_revision=note.revision)
    assert not holds_a_secret(await lcm.occ(op_id))
    assert not holds_a_secret(await lcm.ok("GET", f"{OCCS}?all_fields"))

    await migrate(lcm.api.store)  # the next hub start
    record = await lcm.api.store.get(records.OP_OCC, op_id)
    assert not holds_a_secret(record.value)
    assert record.value["occ"]["operationParams"]["vimConnectionInfo"] == KEPT
    assert not holds_a_secret(await list_all(lcm.api.store, outbox.KIND, {}))
    again = await lcm.api.store.revision()
    await migrate(lcm.api.store)
    assert await lcm.api.store.revision() == again  # done once
