"""A token issued from one application credential cannot delete the user's others.

Before: creating a credential with a credential's token was refused (403), but deleting
was not: a credential handed to one tool (a CI job, a monitoring probe) listed its user's
other credentials in the project and deleted them, which revokes their tokens, cutting off
every automation the user ran with them. Now such a token may delete only its own
credential, as Keystone's restricted application credentials manage none.
"""

from __future__ import annotations

import secrets

from tests.security.daemons import RunningHub


def credential_token(hub: RunningHub, credential: dict[str, str]) -> str:
    login = {
        "application_credential_id": credential["id"],
        "application_credential_secret": credential["secret"],
    }
    return str(hub.ok("POST", "/v1/auth/tokens", login, token="")["token"])


def test_a_credentials_token_cannot_delete_another_credential(hub: RunningHub) -> None:
    tag = secrets.token_hex(3)
    owner = hub.tenant(f"ac-{tag}", f"ac-alice-{tag}")
    deployer = hub.ok("POST", "/v1/application_credentials", {"name": "deployer"}, token=owner)
    probe = hub.ok("POST", "/v1/application_credentials", {"name": "probe"}, token=owner)
    deploying = credential_token(hub, deployer)
    probing = credential_token(hub, probe)
    reply = hub.call("DELETE", f"/v1/application_credentials/{deployer['id']}", token=probing)
    assert reply.status == 403, reply
    assert "cannot delete another" in reply.message
    assert hub.call("GET", "/vnfpkgm/v1/vnf_packages", token=deploying).status == 200
    hub.ok("GET", f"/v1/application_credentials/{deployer['id']}", token=owner)
    # its own credential it may retire; the user, by password, any of theirs
    hub.ok("DELETE", f"/v1/application_credentials/{probe['id']}", token=probing)
    hub.ok("DELETE", f"/v1/application_credentials/{deployer['id']}", token=owner)
    assert hub.call("GET", "/vnfpkgm/v1/vnf_packages", token=deploying).status == 401
