"""A request's VIM access information, taken out before the request is kept."""

from __future__ import annotations

import copy

from atoll.nfv.lcm.vim_access import holds_secrets, without_secrets

BODY = {
    "flavourId": "simple",
    "additionalParams": {"password_hint": "kept: the VNF's own parameters are not VIM access"},
    "vimConnectionInfo": {
        "k8s": {
            "vimType": "kubernetes",
            "interfaceInfo": {"endpoint": "https://k8s:6443", "ssl_ca_cert": "PEM",
                              "nested": [{"clientToken": "x", "port": 1}]},
            "accessInfo": {"bearer_token": "t", "username": "u"},
            "extra": {"dummy-key": "v"},
        },
        "odd": "not an object",
    },
}  # fmt: skip


def test_access_info_goes_and_secret_keys_of_interface_info_go() -> None:
    before = copy.deepcopy(BODY)
    out = without_secrets(BODY)
    assert before == BODY  # not changed in place
    assert out["vimConnectionInfo"]["k8s"] == {
        "vimType": "kubernetes",
        "interfaceInfo": {"endpoint": "https://k8s:6443", "ssl_ca_cert": "PEM",
                          "nested": [{"port": 1}]},
        "extra": {"dummy-key": "v"},
    }  # fmt: skip
    assert out["vimConnectionInfo"]["odd"] == "not an object"
    assert out["additionalParams"] == BODY["additionalParams"]
    assert holds_secrets(BODY) and not holds_secrets(out)


def test_a_body_without_vim_connection_info_is_kept_as_it_is() -> None:
    for body in ({"flavourId": "simple"}, {"vimConnectionInfo": None}, None, [1], "x"):
        assert without_secrets(body) == body and not holds_secrets(body)
