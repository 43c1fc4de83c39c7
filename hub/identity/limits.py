"""What one project may hold of the things that keep the hub working for it all the time.

An LCM subscription is a callback the hub calls for each of its project's notifications; an
alarm is a rule the hub evaluates every ``alarm_interval`` seconds (and the webhooks it
calls). Unbounded, one project's member could keep the hub busy for nobody else. So a
project holds at most ``[hub] lcm_subscription_limit`` subscriptions and ``[hub]
alarm_limit`` alarms (system-scope alarms, of no project, are not counted); one more is
refused with 403 ``over_limit``, naming the limit and its setting, as Nova and Aodh refuse a
create over quota. A user holds at most ``[hub] app_credential_limit`` application
credentials (each a record the hub keeps, made by a request that costs nothing else). The
count is read before the create: creates racing each other may pass
it together, so a project can go over by as many as raced (never further: the next create
reads them all).
"""

from __future__ import annotations

from atoll.errors import OverLimit
from atoll.hub.store.base import ListQuery, Store


async def check_room(store: Store, kind: str, project_id: str, limit: int, what: str,
                     setting: str) -> None:  # fmt: skip
    """OverLimit unless project ``project_id`` holds fewer than ``limit`` records of
    ``kind`` (``what`` names them for people, ``setting`` is the ``[hub]`` setting)."""
    await _check(store, kind, {"project_id": project_id}, f"project {project_id}", limit, what,
                 setting)  # fmt: skip


async def check_user_room(store: Store, kind: str, user_id: str, user: str, limit: int,
                          what: str, setting: str) -> None:  # fmt: skip
    """OverLimit unless the user of id ``user_id`` (named ``user``) holds fewer than ``limit``
    records of ``kind``, as :func:`check_room` for a project."""
    await _check(store, kind, {"user_id": user_id}, f"user {user}", limit, what, setting)


async def _check(store: Store, kind: str, filters: dict[str, str], holder: str, limit: int,
                 what: str, setting: str) -> None:  # fmt: skip
    query = ListQuery(kind, filters=filters, limit=max(limit, 1))
    held = len((await store.list(query)).items) if limit > 0 else 0
    if held >= limit:
        raise OverLimit(
            f"{holder} has {limit} {what} already, as many as it may have "
            f"([hub] {setting}): delete one first"
        )
