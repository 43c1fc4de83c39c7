"""Projects by their immutable id: a token's project, who owns what, and ending a project.

A project's name can be reused once the project is deleted; its ``id`` cannot. So everything
a project owns records the id as ``project_id`` (role assignments, application credentials,
images, VNF packages, flavors; the name beside it is for people), and every ownership check
compares ids: a project created again under an old name starts with nothing.

A token names its project (``prj``) and, since tokens carry it, the project's id (``pid``).
:func:`bind` checks the id against the live project of that name and fills it in for older
tokens, so handlers always compare ``claims.project_id``.

A project and its role assignments change together (:func:`grant`, :func:`end_project`):
granting re-writes the project record in the same store commit as the assignment, so the
assignment is written only while the project exists at the revision the granter read; and
deleting commits the project's removal with every assignment and credential it had, at the
revisions read. Whichever commits second sees a stale revision and reads again. So granting
a role moves the project's revision (its ETag) too. The same commit writes a
:data:`PURGE_KIND` record, the intent to remove what the project owned elsewhere (images,
packages, flavors, alarms): :mod:`atoll.hub.api.projects` carries it out and removes the
record, and retries it until then, after an error or a restart of the hub. On etcd, one
commit holds at most ``--max-txn-ops`` writes: a project with more assignments and
credentials than that cannot be deleted until the limit is raised (413 says so).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from atoll.errors import Conflict, NotFound, StaleRevision, Unauthenticated
from atoll.hub.identity import assignments
from atoll.hub.identity.issuing import APP_CREDENTIAL_KIND
from atoll.hub.store.base import Delete, Put, Record, Store
from atoll.hub.store.query import list_all
from atoll.tokens import Claims

PROJECT_KIND = "project"
PURGE_KIND = "project_purge"  # a deleted project's leftovers to remove, by the project's id
RETRIES = 50  # commits lost to concurrent grants before giving up (409)


async def project(store: Store, name: str) -> Record:
    try:
        return await store.get(PROJECT_KIND, name)
    except NotFound:
        raise NotFound(f"project {name} does not exist") from None


async def bind(store: Store, claims: Claims) -> Claims:
    """The claims with their project's id; Unauthenticated if that project is gone.

    A token of a deleted project does not work for a new project of the same name. Tokens
    carry the id (``pid``) since owners are ids, and deleting a project revokes its tokens,
    so only an older token without ``pid`` costs a store read here (never on each request).
    """
    if claims.project is None or claims.project_id is not None:
        return claims
    try:
        live = (await store.get(PROJECT_KIND, claims.project)).value.get("id")
    except NotFound:
        live = None
    if live is None or claims.project_id not in (None, live):
        raise Unauthenticated(
            f"project {claims.project} of this token no longer exists; log in again"
        )
    return dataclasses.replace(claims, project_id=live)


def owns(claims: Claims, value: Mapping[str, Any]) -> bool:
    """The caller's project owns ``value`` (by id; system callers own nothing this way)."""
    return claims.project_id is not None and value.get("project_id") == claims.project_id


async def grant(store: Store, user: str, project_name: str, role: str, now: str) -> Record:
    """Give ``user`` ``role`` on the project, only while the project exists (see module doc)."""
    key = assignments.assignment_key(user, project_name, role)
    for _ in range(RETRIES):
        current = await project(store, project_name)
        value = assignments.assignment_value(
            user, project_name, role, now, project_id=current.value["id"]
        )
        try:
            await store.commit(
                [
                    Put(assignments.KIND, key, value, expect_revision=0),
                    Put(PROJECT_KIND, project_name, current.value, current.revision),
                ]
            )
        except StaleRevision:
            try:
                await store.get(assignments.KIND, key)
            except NotFound:
                continue  # the project changed meanwhile: read it again
            raise Conflict(f"role assignment {key} already exists") from None
        except NotFound:
            continue  # deleted meanwhile: the next read says so
        return await store.get(assignments.KIND, key)
    raise Conflict(f"project {project_name} changed too often meanwhile; retry")


async def end_project(store: Store, name: str, expect_revision: int | None, now: str = "") -> str:
    """Delete the project with its role assignments and application credentials, and
    write the intent to purge what else it owned (:data:`PURGE_KIND`), in one commit;
    returns its id. ``expect_revision`` (If-Match) must be the project's revision."""
    for _ in range(RETRIES):
        current = await project(store, name)
        if expect_revision is not None and current.revision != expect_revision:
            raise StaleRevision(
                f"project {name} is at revision {current.revision}, not {expect_revision}: "
                "read it again and retry"
            )
        project_id = current.value["id"]
        held = await list_all(store, assignments.KIND, {"project_id": project_id})
        held += await list_all(store, APP_CREDENTIAL_KIND, {"project_id": project_id})
        writes = [Delete(r.kind, r.key, r.revision) for r in held]
        purge = Put(PURGE_KIND, str(project_id), {"project_id": project_id, "name": name,
                                                 "ended_at": now})  # fmt: skip
        try:
            await store.commit([Delete(PROJECT_KIND, name, current.revision), purge, *writes])
        except (StaleRevision, NotFound):
            continue  # a grant landed meanwhile: read again
        return str(project_id)
    raise Conflict(f"project {name} changed too often meanwhile; retry")
