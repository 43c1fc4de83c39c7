"""Desired objects (table ``objects``): what should exist at this site, and who asked for it.

One row per object of kind ``server``, ``network``, ``subnet``, ``port``, ``volume`` or
``flavor``, with a ``generation`` bumped on every spec change and ``deleting`` set when
deletion was asked for (the row goes once the reconciler has torn the object down). Names
are unique per kind among live objects.

Ownership ("Who owns what" in ARCHITECTURE.md): ``origin`` says who authored the current
spec (``hub``: intent from the hub; ``site``: the local API or local auto-heal, possibly
while offline), ``hub_revision`` the hub revision it was based on (``None`` for an object the
hub has never seen), ``project_id`` the project it belongs to (an immutable id).
Who *made* an object its id says (:func:`atoll.ids.origin_of`; a local action makes the
origin of a hub object ``site`` until the hub's next revision of it comes down).
``offered``: a ``create`` operation record was written for it (with it, in one transaction),
so the hub has heard of it, or will; the flavors a site seeds at first start are not: they
never go to the hub. :attr:`DesiredObject.offered_to_hub` is what a hub restored from a
backup is offered again, and whose delete is remembered (:mod:`.deleted`).
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from atoll.errors import NotFound
from atoll.ids import Origin
from atoll.jsonbody import JSON
from atoll.resources import SPECS, Model
from atoll.site_agent.errors import DuplicateName
from atoll.site_agent.store.database import next_seq
from atoll.site_agent.store.deleted import DeletedTable, forget_deleted, remember_deleted
from atoll.site_agent.store.queues import Operation, add_operations
from atoll.site_agent.store.schema import site_minted

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class DesiredObject:
    kind: str
    id: str
    name: str | None
    spec: JSON
    generation: int
    deleting: bool
    created: float
    origin: Origin = "site"
    hub_revision: int | None = None
    project_id: str | None = None
    offered: bool = False

    @property
    def offered_to_hub(self) -> bool:
        """Made at this site and offered to the hub (a ``create`` record went, or the hub
        adopted it): not a default flavor, not a hub object a local action changed."""
        return site_minted(self.id) and (self.offered or self.hub_revision is not None)

    @functools.cached_property
    def model(self) -> Model:
        """The spec as the typed model of its kind (:mod:`atoll.resources`), read once.

        Keys the model does not know (the object's name, site bookkeeping) stay in
        ``extra``; a stored spec the model refuses raises InvalidInput naming the object.
        """
        return SPECS[self.kind].from_wire(self.spec, where=f"{self.kind} {self.id}")

    def typed(self, cls: type[M]) -> M:
        """:attr:`model` as ``cls`` (``server.typed(ServerSpec).vcpus``)."""
        model = self.model
        if not isinstance(model, cls):
            raise TypeError(f"{self.kind} {self.id} is not a {cls.__name__}")
        return model


@dataclass(frozen=True)
class NewObject:
    """One object to insert: what :meth:`DesiredTable.insert_objects` takes."""

    kind: str
    id: str
    name: str | None
    spec: JSON
    origin: Origin = "site"
    hub_revision: int | None = None
    project_id: str | None = None


class DesiredTable(DeletedTable):
    def create_object(
        self,
        kind: str,
        obj_id: str,
        name: str | None,
        spec: JSON,
        *,
        origin: Origin = "site",
        hub_revision: int | None = None,
        project_id: str | None = None,
    ) -> DesiredObject:
        self.insert_objects(
            [NewObject(kind, obj_id, name, spec, origin, hub_revision, project_id)], []
        )
        return self.get_object(kind, obj_id)

    def insert_objects(
        self,
        objects: list[NewObject],
        leases: list[tuple[str, str, str]],
        check: Callable[[], None] | None = None,
        operations: tuple[Operation, ...] = (),
    ) -> None:
        """Insert objects and IPAM leases ``(subnet_id, address, port_id)`` atomically,
        with the operation records that tell the hub of it (an object a ``create`` record
        names is marked ``offered``; a delete remembered of its id is forgotten).

        A live name already taken raises DuplicateName and nothing is written. ``check``
        runs inside the transaction before the writes (what it reads cannot change before
        they land); it raises to refuse.
        """
        now = self.clock()
        created = {(op.kind, op.obj_id) for op in operations if op.body.get("op") == "create"}
        try:
            with self.tx() as c:
                if check is not None:
                    check()
                for o in objects:
                    offered = int((o.kind, o.id) in created)
                    c.execute(
                        "INSERT INTO objects(kind, id, name, spec, generation, deleting,"
                        " created, updated, origin, hub_revision, project_id, offered)"
                        " VALUES (?, ?, ?, ?, 1, 0, ?, ?, ?, ?, ?, ?)",
                        (o.kind, o.id, o.name, json.dumps(o.spec), now, now, o.origin,
                         o.hub_revision, o.project_id, offered),
                    )  # fmt: skip
                    forget_deleted(c, o.kind, o.id)
                c.executemany(
                    "INSERT INTO ipam(subnet_id, address, port_id) VALUES (?, ?, ?)", leases
                )
                add_operations(c, operations, now)
                for o in objects:  # numbered after the create: the hub knows them then
                    c.execute(
                        "INSERT OR REPLACE INTO status(kind, id, state, observed_generation,"
                        " message, detail, updated, seq) VALUES (?, ?, 'PENDING', 0, '', '{}',"
                        " ?, ?)",
                        (o.kind, o.id, now, next_seq(c)),
                    )
        except sqlite3.IntegrityError as exc:
            first = objects[0]
            raise DuplicateName(f"a {first.kind} named {first.name!r} already exists") from exc

    def update_spec(
        self, kind: str, obj_id: str, spec: JSON, *, origin: Origin = "site"
    ) -> DesiredObject:
        self.update_specs([(kind, obj_id, spec)], origin=origin)
        return self.get_object(kind, obj_id)

    def update_specs(
        self,
        changes: list[tuple[str, str, JSON]],
        *,
        origin: Origin = "site",
        operations: tuple[Operation, ...] = (),
    ) -> None:
        """Replace several specs (bumping each generation) in one transaction, with the
        operation records that tell the hub of it."""
        with self.tx() as c:
            add_operations(c, operations, self.clock())
            for kind, obj_id, spec in changes:
                cur = c.execute(
                    "UPDATE objects SET spec = ?, generation = generation + 1, updated = ?,"
                    " origin = ? WHERE kind = ? AND id = ? AND deleting = 0",
                    (json.dumps(spec), self.clock(), origin, kind, obj_id),
                )
                if cur.rowcount == 0:
                    raise NotFound(f"{kind} {obj_id} does not exist")

    def update_from_hub(
        self, kind: str, obj_id: str, name: str | None, spec: JSON, origin: Origin, revision: int
    ) -> None:
        """The hub's newer intent for an object: its name, spec (generation bumped when it
        changed), origin and hub revision, in one transaction."""
        try:
            with self.tx() as c:
                row = c.execute(
                    "SELECT name, spec FROM objects WHERE kind = ? AND id = ?", (kind, obj_id)
                ).fetchone()
                if row is None:
                    raise NotFound(f"{kind} {obj_id} does not exist")
                bump = int((row[0], json.loads(row[1])) != (name, spec))
                c.execute(
                    "UPDATE objects SET name = ?, spec = ?, generation = generation + ?,"
                    " updated = ?, origin = ?, hub_revision = ? WHERE kind = ? AND id = ?",
                    (name, json.dumps(spec), bump, self.clock(), origin, revision, kind,
                     obj_id),
                )  # fmt: skip
        except sqlite3.IntegrityError as exc:
            raise DuplicateName(f"a {kind} named {name!r} already exists") from exc

    def mark_deleting(self, kind: str, obj_id: str) -> DesiredObject:
        with self.tx() as c:
            cur = c.execute(
                "UPDATE objects SET deleting = 1, generation = generation + 1, updated = ?"
                " WHERE kind = ? AND id = ?",
                (self.clock(), kind, obj_id),
            )
            if cur.rowcount == 0:
                raise NotFound(f"{kind} {obj_id} does not exist")
        return self.get_object(kind, obj_id)

    def mark_all_deleting(
        self, keys: list[tuple[str, str]], operations: tuple[Operation, ...] = ()
    ) -> None:
        """Mark several objects ``(kind, id)`` for deletion in one transaction, with the
        operation records that tell the hub of it; a ``delete`` record of an object offered
        to the hub is remembered (:mod:`.deleted`)."""
        now = self.clock()
        with self.tx() as c:
            add_operations(c, operations, now)
            for op in operations:
                if op.body.get("op") != "delete" or op.body.get("desired") is None:
                    continue
                row = c.execute(
                    "SELECT * FROM objects WHERE kind = ? AND id = ?", (op.kind, op.obj_id)
                ).fetchone()
                if row is not None and _desired(row).offered_to_hub:
                    remember_deleted(c, op.kind, op.obj_id, op.body["desired"], now,
                                     self.deletes_kept)  # fmt: skip
            for kind, obj_id in keys:
                c.execute(
                    "UPDATE objects SET deleting = 1, generation = generation + 1, updated = ?"
                    " WHERE kind = ? AND id = ?",
                    (self.clock(), kind, obj_id),
                )

    def purge_object(self, kind: str, obj_id: str) -> None:
        """Forget an object for good (the reconciler calls this once it is torn down)."""
        with self.tx() as c:
            c.execute("DELETE FROM objects WHERE kind = ? AND id = ?", (kind, obj_id))
            c.execute("DELETE FROM status WHERE kind = ? AND id = ?", (kind, obj_id))

    def purge_server(self, server_id: str, port_ids: list[str]) -> None:
        """Forget a torn-down server: its ports, their leases, and its volume attachments."""
        with self.tx() as c:
            for port_id in port_ids:
                c.execute("DELETE FROM ipam WHERE port_id = ?", (port_id,))
                c.execute("DELETE FROM objects WHERE kind = 'port' AND id = ?", (port_id,))
                c.execute("DELETE FROM status WHERE kind = 'port' AND id = ?", (port_id,))
            for row in c.execute("SELECT id, spec FROM objects WHERE kind = 'volume'").fetchall():
                spec = json.loads(row[1])
                if spec.get("server") == server_id:
                    spec["server"] = None
                    c.execute(
                        "UPDATE objects SET spec = ?, generation = generation + 1 WHERE kind = "
                        "'volume' AND id = ?",
                        (json.dumps(spec), row[0]),
                    )
            c.execute("DELETE FROM objects WHERE kind = 'server' AND id = ?", (server_id,))
            c.execute("DELETE FROM status WHERE kind = 'server' AND id = ?", (server_id,))

    def get_object(self, kind: str, obj_id: str) -> DesiredObject:
        row = self.conn.execute(
            "SELECT * FROM objects WHERE kind = ? AND id = ?", (kind, obj_id)
        ).fetchone()
        if row is None:
            raise NotFound(f"{kind} {obj_id} does not exist")
        return _desired(row)

    def find_object(self, kind: str, ref: str) -> DesiredObject:
        """By id, or else by name among live objects."""
        row = self.conn.execute(
            "SELECT * FROM objects WHERE kind = ? AND (id = ? OR (name = ? AND deleting = 0))"
            " ORDER BY id = ? DESC LIMIT 1",
            (kind, ref, ref, ref),
        ).fetchone()
        if row is None:
            raise NotFound(f"{kind} {ref!r} does not exist (no such id or name)")
        return _desired(row)

    def list_objects(
        self, kind: str | None = None, include_deleting: bool = True
    ) -> list[DesiredObject]:
        sql, args = "SELECT * FROM objects WHERE 1 = 1", []
        if kind is not None:
            sql, args = sql + " AND kind = ?", [kind]
        if not include_deleting:
            sql += " AND deleting = 0"
        rows = self.conn.execute(sql + " ORDER BY created, id", args).fetchall()
        return [_desired(r) for r in rows]

    def object_keys(self) -> list[tuple[str, str]]:
        """``(kind, id)`` of every desired object, deleting ones included: what the orphan
        audit compares the host with, without decoding 1,500 specs (a tenth of the time of
        :meth:`list_objects` at 500 servers)."""
        return [(r[0], r[1]) for r in self.conn.execute("SELECT kind, id FROM objects")]

    def hub_known(self, kinds: tuple[str, ...]) -> list[tuple[str, str, int]]:
        """``(kind, id, hub revision)`` of the live objects of ``kinds`` the hub knows (what
        anti-entropy compares with the hub's own)."""
        marks = ", ".join("?" for _ in kinds)
        rows = self.conn.execute(
            f"SELECT kind, id, hub_revision FROM objects WHERE hub_revision IS NOT NULL"  # noqa: S608
            f" AND deleting = 0 AND kind IN ({marks})",
            kinds,
        ).fetchall()
        return [(r[0], r[1], int(r[2])) for r in rows]

    def put_reference(self, kind: str, obj_id: str, spec: JSON, revision: int) -> None:
        """Keep a hub reference (an image a server may name): no name, no status, nothing
        for the reconciler to build; replaced by a newer revision."""
        now = self.clock()
        with self.tx() as c:
            c.execute(
                "INSERT INTO objects(kind, id, name, spec, generation, deleting, created, updated,"
                " origin, hub_revision) VALUES (?, ?, NULL, ?, 1, 0, ?, ?, 'hub', ?)"
                " ON CONFLICT(kind, id) DO UPDATE SET spec = excluded.spec, updated = ?,"
                " hub_revision = excluded.hub_revision, generation = generation + 1",
                (kind, obj_id, json.dumps(spec), now, now, revision, now),
            )

    def object_ids(self, kind: str) -> set[str]:
        rows = self.conn.execute("SELECT id FROM objects WHERE kind = ?", (kind,)).fetchall()
        return {r[0] for r in rows}


def _desired(row: sqlite3.Row) -> DesiredObject:
    return DesiredObject(
        kind=row["kind"],
        id=row["id"],
        name=row["name"],
        spec=json.loads(row["spec"]),
        generation=row["generation"],
        deleting=bool(row["deleting"]),
        created=row["created"],
        origin=row["origin"],
        hub_revision=row["hub_revision"],
        project_id=row["project_id"],
        offered=bool(row["offered"]),
    )
