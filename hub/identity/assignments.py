"""Role assignments: a user holds a role on a project, or on the system (fleet) scope.

Stored as kind ``role_assignment`` under the key ``<user>:project:<project>:<role>`` or
``<user>:system:all:<role>`` (so an assignment cannot exist twice), value
``{"id", "user", "user_id", "project", "project_id", "system", "role", "created_at"}``.
``user_id`` and ``project_id`` are the user's and the project's immutable ids, and what
roles are looked up by: an assignment made to a deleted user, or on a deleted project, never
counts for a later user or project of the same name (the names beside them are for people,
and for the key). Assignments are written and removed together with their user and project
(:mod:`.tenancy`).
"""

from __future__ import annotations

from atoll.hub.store.base import Record, Store
from atoll.hub.store.query import list_all
from atoll.jsonbody import JSON

KIND = "role_assignment"


def assignment_key(user: str, project: str | None, role: str) -> str:
    return f"{user}:system:all:{role}" if project is None else f"{user}:project:{project}:{role}"


def assignment_value(
    user: str,
    user_id: str,
    project: str | None,
    role: str,
    created_at: str,
    project_id: str | None = None,
) -> JSON:
    return {
        "id": assignment_key(user, project, role),
        "user": user,
        "user_id": user_id,
        "project": project,
        "project_id": project_id,
        "system": project is None,
        "role": role,
        "created_at": created_at,
    }


async def all_matching(store: Store, filters: JSON) -> list[Record]:
    return await list_all(store, KIND, filters)


async def roles_on(store: Store, user_id: str, project_id: str | None) -> tuple[str, ...]:
    """The roles of the user with id ``user_id`` on the project with id ``project_id``, or on
    the system scope."""
    filters: JSON = (
        {"user_id": user_id, "system": True}
        if project_id is None
        else {"user_id": user_id, "system": False, "project_id": project_id}
    )
    return tuple(sorted({r.value["role"] for r in await all_matching(store, filters)}))


async def projects_of(store: Store, user_id: str) -> set[str]:
    """The ids of the projects the user with id ``user_id`` holds a role on."""
    records = await all_matching(store, {"user_id": user_id, "system": False})
    return {r.value["project_id"] for r in records if r.value.get("project_id")}
