"""What an LCM request carries besides the VNF's own intent, against the running hub.

Before:

* ``additionalParams.maxParallel``, ``siteTimeout`` and ``stopOnFailure`` were read raw by
  the engine: ``"abc"`` or ``[1]`` answered 500 (a traceback in the hub's log), and
  ``maxParallel: -1`` answered 202 with an op occurrence that stayed PROCESSING for good,
  writing no site: retry, rollback and fail (FAILED_TEMP only), terminate and delete of
  the instance all answered 409, a hub restart resumed it as it was; ``siteTimeout: 1e300``
  let an offline site hold an operation (and its instance) for good.
* ``vimConnectionInfo.*.accessInfo`` (a VIM password, client secret, token) was kept in
  the op occurrence's ``operationParams``: a project reader read a member's password back
  from ``GET /vnflcm/v2/vnf_lcm_op_occs/{id}`` and the list with ``all_fields``, and the
  hub's database kept it.
"""

from __future__ import annotations

import secrets
from typing import Any

from tests.hub.lcm.lcmtest import VNFD_ID
from tests.security.daemons import Reply, RunningHub
from tests.security.test_lcm_tenancy import onboard_with_external_cp

INSTANCES = "/vnflcm/v2/vnf_instances"
OCCS = "/vnflcm/v2/vnf_lcm_op_occs"
VERSION = {"Version": "2.0.0"}


def lcm(hub: RunningHub, method: str, path: str, body: Any, token: str) -> Reply:
    return hub.call(method, path, body, token=token, headers=VERSION)


def tenant_with_sites(hub: RunningHub) -> tuple[str, str, dict[str, Any]]:
    """A new project, a member of it with its package onboarded, two sites (registered,
    never joined: they stay offline) with its network ``net`` at each, and an instantiate
    body that places the VNF there."""
    tag = secrets.token_hex(3)
    project, sites = f"req-{tag}", [f"req-{tag}-1", f"req-{tag}-2"]
    member = hub.tenant(project, f"req-member-{tag}")
    onboard_with_external_cp(hub, member)
    for site in sites:
        hub.ok("POST", "/v1/sites", {"name": site})
        hub.ok("POST", f"/v1/sites/{site}/networks", {"name": "net", "spec": {}}, token=member)
    body = {
        "flavourId": "simple",
        "extVirtualLinks": [{"id": "ext", "resourceId": "net", "extCps": [{"cpdId": "CP2"}]}],
        "additionalParams": {"placement": {"sites": sites}},
    }
    return project, member, body


def test_the_engines_options_are_checked_and_a_refused_one_leaves_nothing(
    hub: RunningHub,
) -> None:
    _, member, body = tenant_with_sites(hub)
    instance = lcm(hub, "POST", INSTANCES, {"vnfdId": VNFD_ID}, member).body["id"]
    for option, value, says in (
        ("maxParallel", "abc", "must be an integer"),
        ("maxParallel", [1], "must be an integer"),
        ("maxParallel", -1, "must be in 1..10000"),
        ("siteTimeout", "abc", "must be a number"),
        ("siteTimeout", {}, "must be a number"),
        ("siteTimeout", 1e300, "must be in 1..86400"),
        ("stopOnFailure", "false", "must be true or false"),
    ):
        sent = {**body, "additionalParams": {**body["additionalParams"], option: value}}
        refused = lcm(hub, "POST", f"{INSTANCES}/{instance}/instantiate", sent, member)
        assert refused.status == 400, (option, value, refused)
        assert refused.headers["Content-Type"].startswith("application/problem+json")
        assert f"body.additionalParams.{option}: {says}" in refused.body["detail"], refused
    for task, sent in (("scale", {"type": "SCALE_OUT", "aspectId": "workers"}), ("heal", {}),
                       ("terminate", {"terminationType": "FORCEFUL"})):  # fmt: skip
        refused = lcm(hub, "POST", f"{INSTANCES}/{instance}/{task}",
                      {**sent, "additionalParams": {"maxParallel": -1}}, member)  # fmt: skip
        assert refused.status == 400 and "maxParallel" in refused.body["detail"], refused
    assert lcm(hub, "GET", f"{OCCS}?filter=(eq,vnfInstanceId,{instance})", None, member).body == []
    assert "Traceback" not in hub.log
    # nothing holds the instance: it is deleted as any unused one is
    assert lcm(hub, "DELETE", f"{INSTANCES}/{instance}", None, member).status == 204


def test_a_vim_password_is_not_kept_nor_shown_to_anyone(hub: RunningHub) -> None:
    project, member, body = tenant_with_sites(hub)
    reader = hub.tenant(project, f"{project}-reader", "reader")
    password, client_secret = f"PW-{secrets.token_hex(8)}", f"CS-{secrets.token_hex(8)}"
    vim = {"vim1": {"vimType": "ETSINFV.OPENSTACK_KEYSTONE.V_3",
                    "interfaceInfo": {"endpoint": "https://vim.example/identity/v3"},
                    "accessInfo": {"username": "nfv_user", "password": password,
                                   "client_secret": client_secret}}}  # fmt: skip
    instance = lcm(hub, "POST", INSTANCES, {"vnfdId": VNFD_ID}, member).body["id"]
    started = lcm(hub, "POST", f"{INSTANCES}/{instance}/instantiate",
                  {**body, "vimConnectionInfo": vim}, member)  # fmt: skip
    assert started.status == 202, started
    op = started.headers["Location"].rsplit("/", 1)[1]
    for token in (reader, member):
        for path in (f"{OCCS}/{op}", f"{OCCS}?all_fields", f"{OCCS}?fields=operationParams",
                     f"{INSTANCES}/{instance}", f"{INSTANCES}?all_fields"):  # fmt: skip
            shown = lcm(hub, "GET", path, None, token)
            assert shown.status == 200, (path, shown)
            assert password.encode() not in shown.raw and client_secret.encode() not in shown.raw
    kept = lcm(hub, "GET", f"{OCCS}/{op}", None, reader).body["operationParams"]
    assert kept["vimConnectionInfo"] == {"vim1": {
        "vimType": "ETSINFV.OPENSTACK_KEYSTONE.V_3",
        "interfaceInfo": {"endpoint": "https://vim.example/identity/v3"}}}  # fmt: skip
    # and the hub keeps it nowhere: not in its database (nor its WAL), not in its log
    stores = sorted(hub.data_dir.glob("hub.db*"))
    assert stores, list(hub.data_dir.iterdir())
    for stored in stores:
        held = stored.read_bytes()
        assert password.encode() not in held and client_secret.encode() not in held, stored
    assert password not in hub.log
