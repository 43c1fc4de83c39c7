"""Ending what a deleted user held: its role assignments, its application credentials, and
every token issued to it (revoked, so sites verifying offline learn too). A deleted project
ends the same way, in one store commit with its record: :func:`.tenancy.end_project`."""

from __future__ import annotations

from atoll.hub.identity import assignments
from atoll.hub.identity.issuing import APP_CREDENTIAL_KIND
from atoll.hub.identity.revocation import Revocations
from atoll.hub.store.base import Store
from atoll.hub.store.query import list_all


async def end_access(store: Store, revocations: Revocations, user: str) -> None:
    for kind in (assignments.KIND, APP_CREDENTIAL_KIND):
        for record in await list_all(store, kind, {"user": user}):
            await store.delete(kind, record.key)
    await revocations.revoke("user", user)
