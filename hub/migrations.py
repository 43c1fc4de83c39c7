"""Bringing a store written by an earlier hub up to date, when the hub starts.

Owners by id (:mod:`atoll.hub.identity.tenancy`): earlier hubs recorded the project that
owns a role assignment, application credential, image, VNF package or flavor by name only.
Each such record gets the ``project_id`` of the live project of that name. A record whose
project is already gone belonged to a deleted project: its assignments and credentials
(orphans a later project of the same name would have inherited) are deleted, and so are
its private flavors; its images and packages are kept, owned by no project (only system
administrators see them, and may delete them). Flavors move to their namespaced keys
(``<namespace>:<name>``), their access lists gaining ``project_ids``.

Users by id too: role assignments and application credentials record their user's id
(``user_id``), and roles are looked up by it. Each one without it gets the id of the live
user of its name. One whose user is gone, or whose user of that name was made after it (an
earlier hub let a grant racing a user's deletion outlive the user, and a later user of that
name inherit it), belonged to a deleted user: it is deleted, and logged (a warning naming
it).
The latest telemetry batch earlier hubs kept per site in the store (kind ``site_telemetry``)
is deleted: fleet telemetry lives outside the store now (:mod:`atoll.hub.telemetry`).
Earlier hubs kept an LCM request's ``vimConnectionInfo`` as it came, VIM passwords and
tokens included, in the op occurrence's ``operationParams`` (and in the notification
records that carry it); they are taken out (:mod:`atoll.nfv.lcm.vim_access`).

Every step is a compare-and-set, so two hubs starting on one store do it once, and a
record already up to date is left alone: running it again changes nothing.
"""

from __future__ import annotations

import contextlib
import logging

from atoll.errors import NotFound, StaleRevision
from atoll.hub.catalog import flavors
from atoll.hub.catalog.images import KIND as IMAGE_KIND
from atoll.hub.catalog.vnf_packages import KIND as PACKAGE_KIND
from atoll.hub.identity import assignments
from atoll.hub.identity.issuing import APP_CREDENTIAL_KIND
from atoll.hub.lcm import outbox
from atoll.hub.lcm import records as lcm_records
from atoll.hub.store.base import Delete, Put, Record, Store
from atoll.hub.store.query import list_all
from atoll.jsonbody import JSON
from atoll.nfv.lcm.vim_access import holds_secrets, without_secrets
from atoll.timestamps import epoch_of

log = logging.getLogger(__name__)
OLD_TELEMETRY_KIND = "site_telemetry"  # earlier hubs' latest batch per site, in the store


async def migrate(store: Store) -> None:
    ids = {r.key: r.value["id"] for r in await list_all(store, "project", {})}
    changed = 0
    for kind in (assignments.KIND, APP_CREDENTIAL_KIND, IMAGE_KIND, PACKAGE_KIND):
        for record in await list_all(store, kind, {}):
            changed += await _owner_by_id(store, record, ids)
    for record in await list_all(store, flavors.KIND, {}):
        changed += await _flavor(store, record, ids)
    if changed:
        log.info("hub store: %d records now name their project by id", changed)
    users = {r.key: r.value for r in await list_all(store, "user", {})}
    changed = 0
    for kind in (assignments.KIND, APP_CREDENTIAL_KIND):
        for record in await list_all(store, kind, {}):
            changed += await _holder_by_id(store, record, users)
    if changed:
        log.info("hub store: %d records now name their user by id", changed)
    for record in await list_all(store, OLD_TELEMETRY_KIND, {}):
        with contextlib.suppress(NotFound, StaleRevision):
            await store.delete(record.kind, record.key, expect_revision=record.revision)
    scrubbed = 0
    for kind, field in ((lcm_records.OP_OCC, "occ"), (outbox.KIND, "vnfLcmOpOcc")):
        for record in await list_all(store, kind, {}):
            scrubbed += await _vim_access(store, record, field)
    if scrubbed:
        log.info("hub store: VIM access information taken out of %d LCM records", scrubbed)


async def _owner_by_id(store: Store, record: Record, ids: dict[str, str]) -> int:
    value = record.value
    if "project_id" in value:
        return 0
    name = value.get("project")
    write: Put | Delete
    if name is None or name in ids:
        write = Put(record.kind, record.key, {**value, "project_id": ids.get(name or "")})
    elif record.kind in (assignments.KIND, APP_CREDENTIAL_KIND):
        write = Delete(record.kind, record.key)  # held on a deleted project
    else:
        write = Put(record.kind, record.key, {**value, "project_id": None, "orphaned_from": name})
    return await _commit(store, [_at(write, record.revision)])


async def _flavor(store: Store, record: Record, ids: dict[str, str]) -> int:
    value = record.value
    if "project_id" in value and ":" in record.key:
        return 0
    owner = value.get("owner")
    if owner is not None and owner not in ids:
        return await _commit(store, [Delete(record.kind, record.key, record.revision)])
    names = [n for n in value.get("projects", []) if n in ids]
    owner_id = ids[owner] if owner is not None else None
    moved = {**value, "projects": names, "project_ids": [ids[n] for n in names]}
    moved["project_id"] = owner_id
    new_key = flavors.key(owner_id, value["name"])
    return await _commit(
        store,
        [
            Delete(record.kind, record.key, record.revision),
            Put(record.kind, new_key, moved, expect_revision=0),
        ],
    )


async def _holder_by_id(store: Store, record: Record, users: dict[str, JSON]) -> int:
    """A role assignment or credential names its user by id too; one of a deleted user goes
    (its user is gone, or the user of its name was made after it: a later user)."""
    if "user_id" in record.value:
        return 0
    name = record.value.get("user")
    holder = users.get(name) if isinstance(name, str) else None
    made = epoch_of(holder.get("created_at")) if holder is not None else None
    written = epoch_of(record.value.get("created_at"))
    later = made is not None and written is not None and written < made
    if holder is None or later:
        why = f" (written {record.value['created_at']}, before today's {name})" if later else ""
        if await _commit(store, [Delete(record.kind, record.key, record.revision)]):
            log.warning("hub store: %s %s removed: its user %s no longer exists%s",
                        record.kind.replace("_", " "), record.key, name, why)  # fmt: skip
        return 0
    value = {**record.value, "user_id": holder["id"]}
    return await _commit(store, [Put(record.kind, record.key, value, record.revision)])


async def _vim_access(store: Store, record: Record, field: str) -> int:
    """An op occurrence (or a notification of one) without the VIM access information its
    ``operationParams`` held."""
    occ = record.value.get(field)
    if not isinstance(occ, dict) or not holds_secrets(occ.get("operationParams")):
        return 0
    occ = {**occ, "operationParams": without_secrets(occ["operationParams"])}
    value = {**record.value, field: occ}
    return await _commit(store, [Put(record.kind, record.key, value, record.revision)])


def _at(write: Put | Delete, revision: int) -> Put | Delete:
    if isinstance(write, Put):
        return Put(write.kind, write.key, write.value, revision)
    return Delete(write.kind, write.key, revision)


async def _commit(store: Store, writes: list[Put | Delete]) -> int:
    with contextlib.suppress(StaleRevision, NotFound):  # another hub did it meanwhile
        await store.commit(writes)
        return 1
    return 0
