"""LCM notifications (SOL003 v2): subscriptions, which ones a change concerns, and the
notification bodies, with ids that make redelivery deduplicable.

Pure and deterministic; the hub's delivery (the durable per-subscription outbox, retries
with backoff, authentication) is not here.

* :class:`LccnSubscriptionRequest`: ``callbackUri``, ``filter``, ``authentication`` (BASIC
  or OAUTH2_CLIENT_CREDENTIALS with its parameters; ``authType`` and the parameters it
  names must agree), ``verbosity``.
* :func:`wants`: whether a subscription's filter takes a notification: every attribute the
  filter gives must match (instance by ids, names, VNFD ids or provider/product/version;
  notification type; operation type; operation state), any value of a list will do.
* :func:`subscription_view`: a subscription as a client reads it (no credentials).
* :func:`op_notification`, :func:`identifier_notification`: the bodies. A notification's
  ``id`` is derived from the subscription and the event (op occurrence, state, the time it
  entered it), so the same event built again after a hub restart has the same id and a
  subscriber drops the duplicate. ``error`` rides only on FAILED_TEMP, FAILED and
  ROLLED_BACK; ``notificationStatus`` is START or RESULT as :mod:`.states` says.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from atoll import ids
from atoll.errors import Problem
from atoll.nfv.lcm.instance import Operation, OperationState, VnfInstance, VnfLcmOpOcc
from atoll.nfv.lcm.states import notification_status, notified_error
from atoll.nfv.lcm.wire import IDENT, SolModel
from atoll.resources.fields import bounded
from atoll.resources.model import at

NotificationType = Literal[
    "VnfLcmOperationOccurrenceNotification",
    "VnfIdentifierCreationNotification",
    "VnfIdentifierDeletionNotification",
]
AuthType = Literal["BASIC", "OAUTH2_CLIENT_CREDENTIALS"]  # OAUTH2_CLIENT_CERT: not offered
URI = r"https?://[^\s]{1,2040}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class VnfVersion(SolModel):
    WHAT = "VNF version"
    vnf_software_version: str = bounded(low=1, high=IDENT)
    vnfd_versions: tuple[str, ...] | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class VnfProduct(SolModel):
    WHAT = "VNF product"
    vnf_product_name: str = bounded(low=1, high=IDENT)
    versions: tuple[VnfVersion, ...] | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class VnfProvider(SolModel):
    WHAT = "VNF provider"
    vnf_provider: str = bounded(low=1, high=IDENT)
    vnf_products: tuple[VnfProduct, ...] | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class VnfInstanceSubscriptionFilter(SolModel):
    WHAT = "instance filter"
    vnfd_ids: tuple[str, ...] | None = None
    vnf_products_from_providers: tuple[VnfProvider, ...] | None = None
    vnf_instance_ids: tuple[str, ...] | None = None
    vnf_instance_names: tuple[str, ...] | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class LifecycleChangeNotificationsFilter(SolModel):
    WHAT = "notification filter"
    vnf_instance_subscription_filter: VnfInstanceSubscriptionFilter | None = None
    notification_types: tuple[NotificationType, ...] | None = None
    operation_types: tuple[Operation, ...] | None = None
    operation_states: tuple[OperationState, ...] | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ParamsBasic(SolModel):
    WHAT = "basic authentication"
    user_name: str = bounded(low=1, high=IDENT)
    password: str = bounded(low=1, high=IDENT)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ParamsOauth2ClientCredentials(SolModel):
    WHAT = "OAuth 2.0 client credentials"
    client_id: str = bounded(low=1, high=IDENT)
    client_password: str = bounded(low=1, high=IDENT)
    token_endpoint: str = bounded(pattern=URI, hint="must be an http(s) URL")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SubscriptionAuthentication(SolModel):
    WHAT = "subscription authentication"
    auth_type: tuple[AuthType, ...] = bounded(low=1, high=2)
    params_basic: ParamsBasic | None = None
    params_oauth2_client_credentials: ParamsOauth2ClientCredentials | None = None

    def problems(self, where: str) -> list[Problem]:
        out = []
        for kind, params, key in (
            ("BASIC", self.params_basic, "paramsBasic"),
            (
                "OAUTH2_CLIENT_CREDENTIALS",
                self.params_oauth2_client_credentials,
                "paramsOauth2ClientCredentials",
            ),
        ):
            if kind in self.auth_type and params is None:
                out.append(Problem(at(where, key), f"is required with authType {kind}"))
            if kind not in self.auth_type and params is not None:
                out.append(Problem(at(where, key), f"is given without authType {kind}"))
        return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class LccnSubscriptionRequest(SolModel):
    WHAT = "subscription request"
    filter: LifecycleChangeNotificationsFilter | None = None
    callback_uri: str = bounded(pattern=URI, hint="must be an http(s) URL")
    authentication: SubscriptionAuthentication | None = None
    verbosity: Literal["FULL", "SHORT"] = "FULL"


def _instance_matches(f: VnfInstanceSubscriptionFilter, instance: VnfInstance) -> bool:
    checks = [
        f.vnfd_ids is None or instance.vnfd_id in f.vnfd_ids,
        f.vnf_instance_ids is None or instance.id in f.vnf_instance_ids,
        f.vnf_instance_names is None or instance.vnf_instance_name in f.vnf_instance_names,
    ]
    if f.vnf_products_from_providers is not None:
        checks.append(any(_product_matches(p, instance) for p in f.vnf_products_from_providers))
    return all(checks)


def _product_matches(provider: VnfProvider, instance: VnfInstance) -> bool:
    if provider.vnf_provider != instance.vnf_provider:
        return False
    if provider.vnf_products is None:
        return True
    for product in provider.vnf_products:
        if product.vnf_product_name != instance.vnf_product_name:
            continue
        if product.versions is None:
            return True
        for version in product.versions:
            if version.vnf_software_version == instance.vnf_software_version and (
                version.vnfd_versions is None or instance.vnfd_version in version.vnfd_versions
            ):
                return True
    return False


def wants(
    f: LifecycleChangeNotificationsFilter | None,
    kind: NotificationType,
    instance: VnfInstance,
    occ: VnfLcmOpOcc | None = None,
) -> bool:
    """Whether a subscription with filter ``f`` takes this notification (see the module
    docstring); ``occ`` is the op occurrence of an operation notification."""
    if f is None:
        return True
    if f.notification_types is not None and kind not in f.notification_types:
        return False
    sub = f.vnf_instance_subscription_filter
    if sub is not None and not _instance_matches(sub, instance):
        return False
    if occ is not None:
        if f.operation_types is not None and occ.operation not in f.operation_types:
            return False
        if f.operation_states is not None and occ.operation_state not in f.operation_states:
            return False
    return True


def _links(base: str, instance_id: str, subscription_id: str) -> dict[str, Any]:
    return {
        "vnfInstance": {"href": f"{base}/vnflcm/v2/vnf_instances/{instance_id}"},
        "subscription": {"href": f"{base}/vnflcm/v2/subscriptions/{subscription_id}"},
    }


def op_notification(
    occ: VnfLcmOpOcc, subscription_id: str, base_url: str, verbosity: str = "FULL"
) -> dict[str, Any]:
    """The VnfLcmOperationOccurrenceNotification of ``occ`` entering its current state."""
    body: dict[str, Any] = {
        "id": ids.derived_hub_id(
            subscription_id, occ.id, occ.operation_state, occ.state_entered_time
        ),
        "notificationType": "VnfLcmOperationOccurrenceNotification",
        "subscriptionId": subscription_id,
        "timeStamp": occ.state_entered_time,
        "notificationStatus": notification_status(occ.operation_state),
        "operationState": occ.operation_state,
        "vnfInstanceId": occ.vnf_instance_id,
        "operation": occ.operation,
        "isAutomaticInvocation": occ.is_automatic_invocation,
        "verbosity": verbosity,
        "vnfLcmOpOccId": occ.id,
        "_links": {
            **_links(base_url, occ.vnf_instance_id, subscription_id),
            "vnfLcmOpOcc": {"href": f"{base_url}/vnflcm/v2/vnf_lcm_op_occs/{occ.id}"},
        },
    }
    if verbosity == "FULL" and occ.resource_changes is not None:
        body.update(_nonempty(occ.resource_changes.to_wire()))
    error = notified_error(occ)
    if error is not None:
        body["error"] = error.to_wire()
    return body


def _nonempty(wire: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in wire.items() if v}


def identifier_notification(
    kind: Literal["VnfIdentifierCreationNotification", "VnfIdentifierDeletionNotification"],
    instance_id: str,
    subscription_id: str,
    base_url: str,
    at_time: str,
) -> dict[str, Any]:
    """A VnfIdentifierCreationNotification or VnfIdentifierDeletionNotification."""
    return {
        "id": ids.derived_hub_id(subscription_id, kind, instance_id),
        "notificationType": kind,
        "subscriptionId": subscription_id,
        "timeStamp": at_time,
        "vnfInstanceId": instance_id,
        "_links": _links(base_url, instance_id, subscription_id),
    }


def subscription_view(
    subscription_id: str, request: LccnSubscriptionRequest, base_url: str
) -> dict[str, Any]:
    """The LccnSubscription a client reads back: never its ``authentication`` (credentials
    stay with the hub)."""
    wire = request.to_wire()
    wire.pop("authentication", None)
    return {
        "id": subscription_id,
        **wire,
        "_links": {"self": {"href": f"{base_url}/vnflcm/v2/subscriptions/{subscription_id}"}},
    }
