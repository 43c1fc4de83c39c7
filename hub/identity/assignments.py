"""Role assignments: a user holds a role on a project, or on the system (fleet) scope.

Stored as kind ``role_assignment`` under the key ``<user>:project:<project>:<role>`` or
``<user>:system:all:<role>`` (so an assignment cannot exist twice), value
``{"id", "user", "project", "system", "role", "created_at"}``.
"""

from __future__ import annotations

from atoll.hub.store.base import JSON, Record, Store
from atoll.hub.store.query import list_all

KIND = "role_assignment"


def assignment_key(user: str, project: str | None, role: str) -> str:
    return f"{user}:system:all:{role}" if project is None else f"{user}:project:{project}:{role}"


def assignment_value(user: str, project: str | None, role: str, created_at: str) -> JSON:
    return {
        "id": assignment_key(user, project, role),
        "user": user,
        "project": project,
        "system": project is None,
        "role": role,
        "created_at": created_at,
    }


async def all_matching(store: Store, filters: JSON) -> list[Record]:
    return await list_all(store, KIND, filters)


async def roles_on(store: Store, user: str, project: str | None) -> tuple[str, ...]:
    """The user's roles on ``project``, or on the system scope when ``project`` is None."""
    filters: JSON = (
        {"user": user, "system": True}
        if project is None
        else {
            "user": user,
            "project": project,
        }
    )
    return tuple(sorted({r.value["role"] for r in await all_matching(store, filters)}))


async def projects_of(store: Store, user: str) -> set[str]:
    records = await all_matching(store, {"user": user, "system": False})
    return {r.value["project"] for r in records}
