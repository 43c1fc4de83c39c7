"""The scale-out hub store: an etcd 3.4+ cluster through etcd's JSON gateway (``/v3/``).

Layout under ``prefix`` (default ``/atoll/``)::

    /atoll/objects/<kind>/<key>   the object, as JSON
    /atoll/meta/revision          written in every write's transaction (value empty)

etcd's own revision is the store revision: a write's revision is the object's
``mod_revision`` (``created_revision`` is etcd's ``create_revision``), store-wide and strictly
increasing. Writing the meta key in the same transaction makes its ``mod_revision`` the
revision of this store's latest write even when the cluster holds other data, so
``revision()`` is 0 for an empty store and ``changes()`` knows how far history goes.

Compare-and-swap is one etcd transaction: ``expect_revision=R`` compares the key's
``mod_revision`` with R, ``expect_revision=0`` compares ``create_revision`` with 0 (absent).
The failure branch reads the key back, to tell a stale revision from a missing object.

Each ``put`` and ``delete`` is a transaction of its own, also when many writers call at
once: etcd gives all the writes of one transaction one revision, and the contract gives
every put its own (only ``commit`` shares one), so concurrent puts are not merged into one
transaction. They are batched one level down instead: etcd commits the transactions that
arrive together in one raft entry batch and one WAL fsync, so 16 writers cost about what 16
threads of raw puts cost (``bench/bench_store.py``).

``changes(since)`` replays etcd's history with a watch from ``since + 1`` over the objects
prefix, read until the latest write; history older than etcd's last compaction raises
:class:`~atoll.hub.store.base.Compacted`. Watchers wait on one shared follower (:mod:`.follow`)
that long-polls the same stream, ``poll_interval`` seconds at a time, on a thread of its own,
so any number of watchers cost one etcd watch and never take the worker threads.

Endpoints: requests go to one member; when it refuses the connection or reports itself
unavailable, the store moves to the next and retries, for up to ``timeout`` seconds, so the
hub keeps serving while any quorum of members is up. Calls run on the store's own pool of
``workers`` threads, each a POST of JSON on a kept-alive connection from one urllib3 pool per
member (the layer requests and etcd3gw are built on: a write spends about half the client
CPU it did through them, which is most of a write's cost here; ``bench/bench_store.py``).
Gateway and connection errors become :class:`~atoll.errors.TemporaryError` (retry later) or
:class:`~atoll.errors.PermanentError` at this boundary.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import urllib3

from atoll.errors import (
    NotFound,
    PayloadTooLarge,
    PermanentError,
    StaleRevision,
    TemporaryError,
)
from atoll.hub.store.base import (
    Change,
    Compacted,
    Delete,
    ListQuery,
    Page,
    Put,
    Record,
    Write,
    change_filter,
    encode_value,
)
from atoll.hub.store.follow import Follower, watch
from atoll.hub.store.names import check_name, check_writes, valid_name
from atoll.hub.store.query import check_query, matches, prefix_end
from atoll.jsonbody import JSON

log = logging.getLogger(__name__)

T = TypeVar("T")

LIST_BATCH = 256
RETRY_PAUSE = 0.2


class _EndpointDown(Exception):
    """This member cannot answer now; another may."""


# the gateway's answers that mean "this member cannot answer now" (not the request's fault)
_DOWN_STATUSES = frozenset({408, 503, 504})
_JSON = {"Content-Type": "application/json"}


class Client:
    """One member's gateway: JSON POSTs on a pool of kept-alive connections."""

    def __init__(self, host: str, port: int, *, timeout: float, connections: int) -> None:
        self.host, self.port = host, port
        self.timeout = timeout
        self.pool = urllib3.HTTPConnectionPool(
            host,
            port,
            maxsize=connections,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=False,
        )

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One gateway call; transport errors become _EndpointDown (to fail over), the
        gateway's refusals ours."""
        try:
            response = self.pool.urlopen("POST", "/v3" + path, body=json.dumps(body), headers=_JSON)
        except urllib3.exceptions.HTTPError as exc:
            raise _EndpointDown(str(exc) or type(exc).__name__) from exc
        if response.status == 200:
            return json.loads(response.data)  # type: ignore[no-any-return]
        detail = _detail(response.data)
        if response.status in _DOWN_STATUSES:
            raise _EndpointDown(f"{response.status} {detail}")
        if "too large" in detail:
            raise PayloadTooLarge(f"etcd refused a value as too large: {detail}")
        if "too many operations" in detail:  # a commit over etcd's --max-txn-ops (128)
            raise PayloadTooLarge(
                f"etcd refused a transaction as too large: {detail}; raise etcd's --max-txn-ops"
            )
        if "compacted" in detail or "leader" in detail or "timed out" in detail:
            raise TemporaryError(f"etcd {path}: {detail}")
        raise PermanentError(f"etcd {path} failed: {response.status} {detail}")

    def stream(self, path: str, body: dict[str, Any], read_timeout: float) -> Any:
        """A streaming POST (a watch): the response, read line by line, then released."""
        try:
            response = self.pool.urlopen(
                "POST",
                "/v3" + path,
                body=json.dumps(body),
                headers=_JSON,
                preload_content=False,
                timeout=urllib3.Timeout(connect=self.timeout, read=read_timeout),
            )
        except urllib3.exceptions.HTTPError as exc:
            raise _EndpointDown(str(exc) or type(exc).__name__) from exc
        if response.status != 200:
            detail = _detail(response.read())
            response.release_conn()
            raise _EndpointDown(f"watch: {response.status} {detail}")
        return response

    def close(self) -> None:
        self.pool.close()


def _detail(data: bytes) -> str:
    """The gateway's error message (its JSON ``message``, or the body as text)."""
    text = data.decode(errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    message = parsed.get("message") or parsed.get("error") if isinstance(parsed, dict) else None
    return str(message) if message else text


class EtcdStore:
    backend = "etcd"

    def __init__(
        self,
        endpoints: Sequence[tuple[str, int]],
        *,
        prefix: str = "/atoll/",
        timeout: float = 10.0,
        poll_interval: float = 1.0,
        workers: int = 16,
    ) -> None:
        if not endpoints:
            raise ValueError("EtcdStore needs at least one endpoint")
        if not prefix.startswith("/") or not prefix.endswith("/"):
            raise ValueError(f"prefix {prefix!r} must start and end with '/'")
        self.endpoints = list(endpoints)
        self.timeout = timeout
        self._poll = poll_interval
        self._objects = prefix + "objects/"
        self._meta = prefix + "meta/revision"
        self._clients = [Client(h, p, timeout=timeout, connections=workers) for h, p in endpoints]
        self._current = 0
        self._closed = False
        self._failing = False
        self._lock = threading.Lock()
        # Its own threads, so etcd calls never queue behind other users of the default pool;
        # every active watch holds one while it waits.
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="atoll-etcd")
        # One long-poll for all watchers (see .follow), on a thread of its own.
        self._follow_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="atoll-etcd-w")
        self._follower = Follower(
            self._poll_revision, fallback=max(10 * poll_interval, 2.0), retry=RETRY_PAUSE
        )

    # -- talking to a member, with fail-over -----------------------------------------------

    async def _run(
        self, fn: Callable[[Client], T], executor: ThreadPoolExecutor | None = None
    ) -> T:
        if self._closed:
            raise TemporaryError(f"etcd store {self._names()} is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor or self._executor, self._call, fn)

    def _call(self, fn: Callable[[Client], T]) -> T:
        deadline = time.monotonic() + self.timeout
        while True:
            for _ in range(len(self._clients)):
                with self._lock:
                    index = self._current
                try:
                    result = fn(self._clients[index])
                except _EndpointDown as exc:
                    self._next_endpoint(index, exc)
                    continue
                self._recovered()
                return result
            if time.monotonic() >= deadline:
                raise TemporaryError(
                    f"no etcd endpoint of {self._names()} answered within {self.timeout:g}s; "
                    "check that a quorum of members is running",
                    delay=1.0,
                )
            time.sleep(RETRY_PAUSE)

    def _next_endpoint(self, index: int, exc: Exception) -> None:
        with self._lock:
            if self._current == index:
                self._current = (index + 1) % len(self._clients)
            if not self._failing:
                host, port = self.endpoints[index]
                log.warning("etcd %s:%d is unavailable (%s); trying the next", host, port, exc)
            self._failing = True

    def _recovered(self) -> None:
        if self._failing:
            with self._lock:
                self._failing = False
                host, port = self.endpoints[self._current]
            log.info("etcd answers again, through %s:%d", host, port)

    def _names(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self.endpoints)

    # -- writes ----------------------------------------------------------------------------

    async def put(
        self, kind: str, key: str, value: JSON, *, expect_revision: int | None = None
    ) -> Record:
        check_name(kind, key)
        path = self._key(kind, key)
        body = encode_value(kind, key, value)
        compare = []
        if expect_revision == 0:
            compare = [_compare(path, "CREATE", "create_revision", 0)]
        elif expect_revision is not None:
            compare = [_compare(path, "MOD", "mod_revision", expect_revision)]
        txn = {
            "compare": compare,
            "success": [
                {"request_put": {"key": _b64(path), "value": _b64(body), "prev_kv": True}},
                {"request_put": {"key": _b64(self._meta), "value": ""}},
            ],
            # read back on a failed check only (an unconditional put has none)
            "failure": [{"request_range": {"key": _b64(path)}}] if compare else [],
        }
        result = await self._run(lambda c: c.post("/kv/txn", txn))
        if not result.get("succeeded"):
            _cas_failed(kind, key, expect_revision, result)
        rev = int(result["header"]["revision"])
        prev = result["responses"][0]["response_put"].get("prev_kv")
        created = int(prev["create_revision"]) if prev else rev
        await self._follower.saw(rev)
        return Record(kind, key, json.loads(body), rev, created)

    async def delete(self, kind: str, key: str, *, expect_revision: int | None = None) -> int:
        path = self._key(kind, key)
        if expect_revision == 0:  # "delete it if it does not exist" can never succeed
            current = await self.get(kind, key)
            raise StaleRevision(
                f"{kind} {key!r} is at revision {current.revision}, not 0: read it again and retry"
            )
        if expect_revision is None:
            compare = _compare(path, "VERSION", "version", 0, result="GREATER")
        else:
            compare = _compare(path, "MOD", "mod_revision", expect_revision)
        txn = {
            "compare": [compare],
            "success": [
                {"request_delete_range": {"key": _b64(path)}},
                {"request_put": {"key": _b64(self._meta), "value": ""}},
            ],
            "failure": [{"request_range": {"key": _b64(path)}}],
        }
        result = await self._run(lambda c: c.post("/kv/txn", txn))
        if not result.get("succeeded"):
            _cas_failed(kind, key, expect_revision, result)
        rev = int(result["header"]["revision"])
        await self._follower.saw(rev)
        return rev

    async def commit(self, writes: Sequence[Write]) -> int:
        check_writes(writes)
        if not writes:
            return await self.revision()
        compare: builtins.list[dict[str, Any]] = []
        success: builtins.list[dict[str, Any]] = []
        for write in writes:
            path = self._key(write.kind, write.key)
            expect = write.expect_revision
            if expect == 0:
                compare.append(_compare(path, "CREATE", "create_revision", 0))
            elif expect is not None:
                compare.append(_compare(path, "MOD", "mod_revision", expect))
            elif isinstance(write, Delete):
                compare.append(_compare(path, "VERSION", "version", 0, result="GREATER"))
            if isinstance(write, Put):
                body = encode_value(write.kind, write.key, write.value)
                success.append({"request_put": {"key": _b64(path), "value": _b64(body)}})
            else:
                success.append({"request_delete_range": {"key": _b64(path)}})
        success.append({"request_put": {"key": _b64(self._meta), "value": ""}})
        txn = {
            "compare": compare,
            "success": success,
            "failure": [{"request_range": {"key": _b64(self._key(w.kind, w.key))}} for w in writes],
        }
        result = await self._run(lambda c: c.post("/kv/txn", txn))
        if not result.get("succeeded"):
            _commit_failed(writes, result)
        rev = int(result["header"]["revision"])
        await self._follower.saw(rev)
        return rev

    # -- reads -----------------------------------------------------------------------------

    async def get(self, kind: str, key: str) -> Record:
        path = self._key(kind, key)
        result = await self._run(lambda c: c.post("/kv/range", {"key": _b64(path)}))
        kvs = result.get("kvs") or []
        if not kvs:
            raise NotFound(f"{kind} {key!r} does not exist")
        return _record(kind, key, kvs[0])

    async def list(self, query: ListQuery) -> Page:
        check_query(query)
        if not valid_name(query.kind, "-"):
            return Page([])
        base = self._key(query.kind, "")
        prefix = base + query.key_prefix  # the keys asked for are a range of etcd's keys
        start = prefix if query.marker is None else max(prefix, base + query.marker + "\0")
        if start >= _prefix_end(prefix):  # a marker past every key asked for
            return Page([])
        batch = query.limit + 1 if not query.filters else max(query.limit + 1, LIST_BATCH)

        def work(client: Client) -> builtins.list[Record]:
            found: builtins.list[Record] = []
            at: int | None = None  # every page reads the same snapshot
            begin = start
            while len(found) <= query.limit:
                body = {"key": _b64(begin), "range_end": _b64(_prefix_end(prefix)), "limit": batch}
                if at is not None:
                    body["revision"] = at
                result = client.post("/kv/range", body)
                at = int(result["header"]["revision"])
                kvs = result.get("kvs") or []
                for kv in kvs:
                    key = base64.b64decode(kv["key"]).decode()[len(base) :]
                    record = _record(query.kind, key, kv)
                    if matches(record.value, query.filters):
                        found.append(record)
                if not result.get("more") or not kvs:
                    break
                begin = base64.b64decode(kvs[-1]["key"]).decode() + "\0"
            return found

        items = await self._run(work)
        more = len(items) > query.limit
        items = items[: query.limit]
        return Page(items, items[-1].key if more else None)

    async def changes(
        self, since: int, limit: int = 1000, *, kind: str | None = None, key_prefix: str = ""
    ) -> builtins.list[Change]:
        keep = change_filter(kind, key_prefix)
        return await self._run(
            partial(self._history, since=since, limit=limit, wait=0.0, keep=keep)
        )

    def watch(self, since: int, *, kind: str | None = None) -> AsyncIterator[Change]:
        return watch(
            self.changes, self._follower.wait_past, since, kind=kind, revision=self.revision
        )

    async def _poll_revision(self, since: int) -> int:
        return await self._run(partial(self._next_revision, since=since), self._follow_thread)

    async def revision(self) -> int:
        return await self._run(self._revision)

    async def close(self) -> None:
        await self._follower.close()
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._follow_thread.shutdown(wait=False, cancel_futures=True)
        for client in self._clients:
            client.close()

    # -- on a worker thread ----------------------------------------------------------------

    def _revision(self, client: Client) -> int:
        kvs = client.post("/kv/range", {"key": _b64(self._meta)}).get("kvs") or []
        return int(kvs[0]["mod_revision"]) if kvs else 0

    def _next_revision(self, client: Client, *, since: int) -> int:
        """The latest revision if past ``since``, else wait ``poll_interval`` for a write."""
        latest = self._revision(client)
        if latest > since:
            return latest
        batch = self._history(client, since=since, limit=1, wait=self._poll)
        return batch[-1].revision if batch else since

    def _history(
        self,
        client: Client,
        *,
        since: int,
        limit: int,
        wait: float,
        keep: Callable[[str, str], bool] | None = None,
    ) -> builtins.list[Change]:
        """Writes after ``since``, up to the latest; if none, wait ``wait`` s for the next.

        ``keep`` (kind, key): the writes to return. The watch still streams every write (a
        watch of a narrower range could not tell when it has reached the latest revision);
        the others are skipped without decoding their values."""
        latest = self._revision(client)
        if latest <= since and wait <= 0:
            return []
        create = {
            "key": _b64(self._objects),
            "range_end": _b64(_prefix_end(self._objects)),
            "start_revision": since + 1,
        }
        read_timeout = wait if latest <= since else self.timeout
        response = client.stream("/watch", {"create_request": create}, read_timeout)
        found: builtins.list[Change] = []
        seen = since  # the revision the stream has reached
        try:
            for line in response:
                if line.strip():
                    seen = self._take(json.loads(line), found, latest, keep, seen)
                if found and len(found) >= limit:
                    break
                if seen >= latest and (found or latest > since):  # else: waiting for a write
                    break
        except urllib3.exceptions.ReadTimeoutError as exc:
            if latest <= since:
                return found  # nothing new within ``wait``
            raise TemporaryError(f"etcd history after {since} did not arrive") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise _EndpointDown(str(exc)) from exc
        finally:
            response.close()  # a watch never ends on its own: its connection is closed,
            response.release_conn()  # and its pool slot given back
        return _whole_revisions(found, limit)

    def _take(
        self,
        chunk: dict[str, Any],
        found: builtins.list[Change],
        latest: int,
        keep: Callable[[str, str], bool] | None,
        seen: int,
    ) -> int:
        """Add the events of one watch response that ``keep`` takes to ``found``; the
        revision the stream has reached (``seen``, or its last event's)."""
        if "error" in chunk:
            raise _EndpointDown(chunk["error"].get("message", "watch failed"))
        result = chunk["result"]
        if int(result.get("compact_revision", 0)):
            raise Compacted(
                f"etcd compacted its history up to revision {result['compact_revision']}; "
                f"list everything and continue from revision {latest}",
                latest,
            )
        if result.get("canceled"):
            raise _EndpointDown(f"watch canceled: {result.get('cancel_reason', '')}")
        for event in result.get("events", []):
            kv = event["kv"]
            kind, _, key = base64.b64decode(kv["key"]).decode()[len(self._objects) :].partition("/")
            rev = seen = int(kv["mod_revision"])
            if keep is not None and not keep(kind, key):
                continue
            if event.get("type") == "DELETE":
                found.append(Change(rev, kind, key, "delete", None))
            else:
                found.append(Change(rev, kind, key, "put", _value(kv)))
        return seen

    def _key(self, kind: str, key: str) -> str:
        """The etcd key; NotFound for a name no object can have (kind "a/b" would alias "a")."""
        if not valid_name(kind, key or "-"):  # key "" only for the prefix of a whole kind
            raise NotFound(f"{kind} {key!r} does not exist")
        return f"{self._objects}{kind}/{key}"


def _cas_failed(kind: str, key: str, expect: int | None, result: dict[str, Any]) -> None:
    kvs = result["responses"][0]["response_range"].get("kvs") or []
    if not kvs:
        raise NotFound(f"{kind} {key!r} does not exist")
    have = int(kvs[0].get("mod_revision", 0))
    now = f"is at revision {have}" if have else "exists"
    raise StaleRevision(f"{kind} {key!r} {now}, not {expect}: read it again and retry")


def _whole_revisions(found: builtins.list[Change], limit: int) -> builtins.list[Change]:
    """The first ``limit`` changes, and the rest of the last one's revision (a commit's writes
    share one revision here: a reader continuing from it must not miss any)."""
    cut = limit
    while 0 < cut < len(found) and found[cut].revision == found[cut - 1].revision:
        cut += 1
    return found[:cut]


def _commit_failed(writes: Sequence[Write], result: dict[str, Any]) -> None:
    """Raise what the first write whose check failed would raise on its own."""
    for write, response in zip(writes, result["responses"], strict=True):
        kvs = response["response_range"].get("kvs") or []
        have = int(kvs[0]["mod_revision"]) if kvs else 0
        expect = write.expect_revision
        if not kvs and (isinstance(write, Delete) or (expect or 0) > 0):
            raise NotFound(f"{write.kind} {write.key!r} does not exist")
        if expect is not None and have != expect:
            raise StaleRevision(
                f"{write.kind} {write.key!r} is at revision {have}, not {expect}: "
                "read it again and retry"
            )
    raise TemporaryError("an etcd transaction failed a check that then held; retry")


def _compare(
    path: str, target: str, field: str, value: int, result: str = "EQUAL"
) -> dict[str, Any]:
    return {"key": _b64(path), "result": result, "target": target, field: value}


def _record(kind: str, key: str, kv: dict[str, Any]) -> Record:
    return Record(kind, key, _value(kv), int(kv["mod_revision"]), int(kv["create_revision"]))


def _value(kv: dict[str, Any]) -> JSON:
    return json.loads(base64.b64decode(kv.get("value", "")))  # type: ignore[no-any-return]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _prefix_end(prefix: str) -> str:
    end = prefix_end(prefix)
    assert end is not None  # every etcd key here starts with the store's ASCII prefix
    return end
