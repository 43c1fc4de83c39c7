"""Subscriptions and notifications: filters, bodies, ids that survive a rebuild."""

from __future__ import annotations

import dataclasses

import pytest

from atoll.errors import InvalidInput
from atoll.nfv.lcm.instance import VnfInstance, VnfLcmOpOcc
from atoll.nfv.lcm.notifications import (
    LccnSubscriptionRequest,
    identifier_notification,
    op_notification,
    subscription_view,
    wants,
)
from atoll.nfv.lcm.states import advance, start
from atoll.nfv.lcm.wire import ProblemDetails

BASE = "https://hub.example:8470"
INSTANCE = VnfInstance.from_wire(
    {
        "id": "inst-1",
        "vnfInstanceName": "edge-fw",
        "vnfdId": "vnfd-1",
        "vnfProvider": "Company",
        "vnfProductName": "Sample VNF",
        "vnfSoftwareVersion": "1.0",
        "vnfdVersion": "1.0",
    }
)
NOW = "2026-11-30T18:00:00Z"


def subscription(body: dict[str, object]) -> LccnSubscriptionRequest:
    return LccnSubscriptionRequest.from_wire(
        {"callbackUri": "http://nfvo.example/cb", **body}, where="body", strict=True
    )


def started() -> VnfLcmOpOcc:
    return start("op-1", INSTANCE, "INSTANTIATE", [], NOW)


@pytest.mark.parametrize(
    ("flt", "wanted"),
    [
        ({}, True),
        ({"vnfInstanceSubscriptionFilter": {"vnfInstanceIds": ["inst-1", "x"]}}, True),
        ({"vnfInstanceSubscriptionFilter": {"vnfInstanceIds": ["x"]}}, False),
        ({"vnfInstanceSubscriptionFilter": {"vnfdIds": ["vnfd-1"]}}, True),
        ({"vnfInstanceSubscriptionFilter": {"vnfInstanceNames": ["other"]}}, False),
        (
            {
                "vnfInstanceSubscriptionFilter": {
                    "vnfProductsFromProviders": [
                        {
                            "vnfProvider": "Company",
                            "vnfProducts": [
                                {
                                    "vnfProductName": "Sample VNF",
                                    "versions": [
                                        {"vnfSoftwareVersion": "1.0", "vnfdVersions": ["1.0"]}
                                    ],
                                }
                            ],
                        }
                    ]
                }
            },
            True,
        ),
        (
            {
                "vnfInstanceSubscriptionFilter": {
                    "vnfProductsFromProviders": [{"vnfProvider": "Other"}]
                }
            },
            False,
        ),
        ({"notificationTypes": ["VnfIdentifierCreationNotification"]}, False),
        ({"operationTypes": ["INSTANTIATE"], "operationStates": ["STARTING"]}, True),
        ({"operationTypes": ["SCALE"]}, False),
        ({"operationStates": ["COMPLETED"]}, False),
    ],
)
def test_filters(flt: dict[str, object], wanted: bool) -> None:
    sub = subscription({"filter": flt})
    assert wants(sub.filter, "VnfLcmOperationOccurrenceNotification", INSTANCE, started()) is wanted


def test_authentication_must_match_its_type() -> None:
    ok = subscription(
        {
            "authentication": {
                "authType": ["BASIC"],
                "paramsBasic": {"userName": "u", "password": "p"},
            }
        }
    )
    view = subscription_view("sub-1", ok, BASE)
    assert "authentication" not in view and view["callbackUri"] == "http://nfvo.example/cb"
    with pytest.raises(InvalidInput) as caught:
        subscription(
            {
                "authentication": {
                    "authType": ["OAUTH2_CLIENT_CREDENTIALS"],
                    "paramsBasic": {"userName": "u", "password": "p"},
                }
            }
        )
    assert [str(p) for p in caught.value.problems] == [
        "body.authentication.paramsBasic: is given without authType BASIC",
        "body.authentication.paramsOauth2ClientCredentials: is required with authType "
        "OAUTH2_CLIENT_CREDENTIALS",
    ]
    with pytest.raises(InvalidInput, match="callbackUri: must be an http"):
        LccnSubscriptionRequest.from_wire({"callbackUri": "file:///etc/passwd"}, where="body")


def test_operation_notifications() -> None:
    occ = started()
    first = op_notification(occ, "sub-1", BASE)
    assert first["notificationStatus"] == "START" and first["operationState"] == "STARTING"
    assert "error" not in first
    assert first["_links"]["vnfLcmOpOcc"]["href"].endswith("/vnflcm/v2/vnf_lcm_op_occs/op-1")
    assert op_notification(occ, "sub-1", BASE)["id"] == first["id"]  # rebuilt: same id
    assert op_notification(occ, "sub-2", BASE)["id"] != first["id"]
    processing = advance(occ, "process", "2026-11-30T18:00:01Z")
    failed = advance(
        processing,
        "fail_temp",
        "2026-11-30T18:00:05Z",
        error=ProblemDetails(status=503, detail="site down"),
    )
    note = op_notification(failed, "sub-1", BASE)
    assert note["notificationStatus"] == "RESULT" and note["error"]["detail"] == "site down"
    again = advance(
        advance(failed, "retry", "2026-11-30T18:01:00Z"), "complete", "2026-11-30T18:02:00Z"
    )
    done = op_notification(again, "sub-1", BASE)
    assert "error" not in done and done["id"] not in {first["id"], note["id"]}
    assert op_notification(dataclasses.replace(again), "sub-1", BASE, "SHORT").keys() <= done.keys()


def test_identifier_notifications() -> None:
    made = identifier_notification(
        "VnfIdentifierCreationNotification", "inst-1", "sub-1", BASE, NOW
    )
    gone = identifier_notification(
        "VnfIdentifierDeletionNotification", "inst-1", "sub-1", BASE, NOW
    )
    assert made["id"] != gone["id"] and made["vnfInstanceId"] == "inst-1"
    assert made["_links"]["vnfInstance"]["href"] == f"{BASE}/vnflcm/v2/vnf_instances/inst-1"
