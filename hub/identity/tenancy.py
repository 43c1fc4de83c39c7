"""Projects and users by their immutable ids: a token's project and user, who owns what, the
grants between them, and ending a project or a user.

A project's or a user's name can be reused once it is deleted; its ``id`` cannot. So
everything a project owns records the id as ``project_id`` (role assignments, application
credentials, images, VNF packages, flavors; the name beside it is for people), everything a
user holds records the user's id as ``user_id`` (role assignments, application
credentials), and every ownership check and role lookup compares ids: a project or a user
created again under an old name starts with nothing.

A token names its project (``prj``) and user (``sub``) and, since tokens carry them, their
ids (``pid``, ``uid``). :func:`bind` checks an older token's names against the live project
and user of those names and fills the ids in, so handlers always compare
``claims.project_id`` and ``claims.user_id``.

A role assignment changes together with its user and project (:func:`grant`,
:func:`end_project`, :func:`end_user`): granting re-writes the user record, and the project
record for a role on a project, in the same store commit as the assignment, so the
assignment is written only while they exist at the revisions the granter read; and deleting
commits the project's or user's removal with every assignment and application credential it
had, at the revisions read. Whichever commits second sees a stale revision and reads again:
a grant racing a delete fails with 404, or lands first and is removed with the rest. So
granting a role moves the user's and the project's revisions (their ETags) too. Deleting a
project writes, in the same commit, a :data:`PURGE_KIND` record, the intent to remove what
the project owned elsewhere (images, packages, flavors, alarms): :mod:`atoll.hub.api.projects`
carries it out and removes the record, and retries it until then, after an error or a
restart of the hub. Ending a project or a user also revokes its tokens, which sites verifying
offline refuse too (the callers revoke, after the commit). On etcd, one commit holds at most
``--max-txn-ops`` writes: a project or user with more assignments and credentials than that
cannot be deleted until the limit is raised (413 says so).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from atoll.errors import Conflict, NotFound, StaleRevision, Unauthenticated
from atoll.hub.identity import assignments
from atoll.hub.identity.issuing import APP_CREDENTIAL_KIND, token_of
from atoll.hub.store.base import Delete, Put, Record, Store
from atoll.hub.store.query import list_all
from atoll.tokens import Claims

log = logging.getLogger(__name__)

PROJECT_KIND = "project"
USER_KIND = "user"
PURGE_KIND = "project_purge"  # a deleted project's leftovers to remove, by the project's id
RETRIES = 50  # commits lost to concurrent grants before giving up (409)


async def _read(store: Store, kind: str, name: str) -> Record:
    try:
        return await store.get(kind, name)
    except NotFound:
        raise NotFound(f"{kind} {name} does not exist") from None


async def project(store: Store, name: str) -> Record:
    return await _read(store, PROJECT_KIND, name)


async def user(store: Store, name: str) -> Record:
    return await _read(store, USER_KIND, name)


async def bind(store: Store, claims: Claims) -> Claims:
    """The claims with their project's and user's ids; Unauthenticated if either is gone.

    A token of a deleted project or user does not work for a new one of the same name.
    Tokens carry the ids (``pid``, ``uid``) since owners are ids, and deleting a project or
    a user revokes its tokens, so only an older token without them costs a store read here
    (never on each request)."""
    claims = await _bind_project(store, claims)
    if claims.user_id is not None:
        return claims
    try:
        live = (await store.get(USER_KIND, claims.user)).value
    except NotFound:
        live = None
    if live is None or not token_of(claims, live):
        raise Unauthenticated(f"user {claims.user} of this token no longer exists; log in again")
    return dataclasses.replace(claims, user_id=live["id"])


async def _bind_project(store: Store, claims: Claims) -> Claims:
    if claims.project is None or claims.project_id is not None:
        return claims
    try:
        live = (await store.get(PROJECT_KIND, claims.project)).value.get("id")
    except NotFound:
        live = None
    if live is None:
        raise Unauthenticated(
            f"project {claims.project} of this token no longer exists; log in again"
        )
    return dataclasses.replace(claims, project_id=live)


def user_id(claims: Claims) -> str:
    """The id of the claims' user (:func:`bind` fills it in for older tokens)."""
    if claims.user_id is None:
        raise Unauthenticated(f"the token of user {claims.user} names no user id; log in again")
    return claims.user_id


def owns(claims: Claims, value: Mapping[str, Any]) -> bool:
    """The caller's project owns ``value`` (by id; system callers own nothing this way)."""
    return claims.project_id is not None and value.get("project_id") == claims.project_id


async def grant(store: Store, user_name: str, project_name: str | None, role: str,
                now: str) -> Record:  # fmt: skip
    """Give ``user_name`` ``role`` on the project (None: on the system), only while the user
    and the project exist (see the module doc)."""
    key = assignments.assignment_key(user_name, project_name, role)
    for _ in range(RETRIES):
        owners = [await user(store, user_name)]
        if project_name is not None:
            owners.append(await project(store, project_name))
        ids = [str(r.value["id"]) for r in owners]
        project_id = ids[1] if project_name is not None else None
        value = assignments.assignment_value(user_name, ids[0], project_name, role, now,
                                             project_id)  # fmt: skip
        touch = [Put(r.kind, r.key, r.value, r.revision) for r in owners]
        try:
            await store.commit([Put(assignments.KIND, key, value, expect_revision=0), *touch])
        except StaleRevision:
            try:
                await store.get(assignments.KIND, key)
            except NotFound:
                continue  # the user or the project changed meanwhile: read them again
            raise Conflict(f"role assignment {key} already exists") from None
        except NotFound:
            continue  # deleted meanwhile: the next read says so
        return await store.get(assignments.KIND, key)
    raise Conflict(f"user {user_name} or project {project_name} changed too often meanwhile; "
                   "retry")  # fmt: skip


Holdings = Callable[[Store, Record], Awaitable[list[Record]]]


async def _end(
    store: Store,
    kind: str,
    name: str,
    expect_revision: int | None,
    held: Holdings,
    also: Callable[[Record], list[Put]] = lambda _: [],
) -> Record:
    """Delete ``kind`` ``name`` with every record ``held`` finds for it, and write what
    ``also`` makes of it, in one commit at the revisions read (read again when a grant lands
    meanwhile); the record deleted. ``expect_revision`` (If-Match) must be its revision."""
    for _ in range(RETRIES):
        current = await _read(store, kind, name)
        if expect_revision is not None and current.revision != expect_revision:
            raise StaleRevision(
                f"{kind} {name} is at revision {current.revision}, not {expect_revision}: "
                "read it again and retry"
            )
        writes = [Delete(r.kind, r.key, r.revision) for r in await held(store, current)]
        try:
            await store.commit([Delete(kind, name, current.revision), *also(current), *writes])
        except (StaleRevision, NotFound):
            continue  # a grant landed meanwhile: read again
        log.info("deleted %s %s (id %s) with %d role assignments and credentials", kind, name,
                 current.value.get("id"), len(writes))  # fmt: skip
        return current
    raise Conflict(f"{kind} {name} changed too often meanwhile; retry")


async def _project_holdings(store: Store, current: Record) -> list[Record]:
    project_id = current.value["id"]
    held = await list_all(store, assignments.KIND, {"project_id": project_id})
    return held + await list_all(store, APP_CREDENTIAL_KIND, {"project_id": project_id})


async def end_project(store: Store, name: str, expect_revision: int | None, now: str = "") -> str:
    """Delete the project with its role assignments and application credentials, and
    write the intent to purge what else it owned (:data:`PURGE_KIND`), in one commit;
    returns its id. ``expect_revision`` (If-Match) must be the project's revision."""

    def purge(current: Record) -> list[Put]:
        project_id = current.value["id"]
        return [Put(PURGE_KIND, str(project_id), {"project_id": project_id, "name": name,
                                                  "ended_at": now})]  # fmt: skip

    ended = await _end(store, PROJECT_KIND, name, expect_revision, _project_holdings, purge)
    return str(ended.value["id"])


async def _user_holdings(store: Store, current: Record) -> list[Record]:
    """What the user holds by its id, and what names it by name (an earlier hub's record
    without an id, or a leftover of an earlier user of that name: it goes too)."""
    found: dict[tuple[str, str], Record] = {}
    for kind in (assignments.KIND, APP_CREDENTIAL_KIND):
        for filters in ({"user_id": current.value["id"]}, {"user": current.key}):
            for record in await list_all(store, kind, filters):
                found[(record.kind, record.key)] = record
    return list(found.values())


async def end_user(store: Store, name: str, expect_revision: int | None) -> str:
    """Delete the user with its role assignments and application credentials in one commit;
    returns its id. ``expect_revision`` (If-Match) must be the user's revision."""
    ended = await _end(store, USER_KIND, name, expect_revision, _user_holdings)
    return str(ended.value["id"])
