"""What one project may hold of the things that keep the hub working for it all the time, and
of the hub's disk.

An LCM subscription is a callback the hub calls for each of its project's notifications; an
alarm is a rule the hub evaluates every ``alarm_interval`` seconds (and the webhooks it
calls). Unbounded, one project's member could keep the hub busy for nobody else. So a
project holds at most ``[hub] lcm_subscription_limit`` subscriptions and ``[hub]
alarm_limit`` alarms (system-scope alarms, of no project, are not counted); one more is
refused with 403 ``over_limit``, naming the limit and its setting, as Nova and Aodh refuse a
create over quota. A user holds at most ``[hub] app_credential_limit`` application
credentials (each a record the hub keeps, made by a request that costs nothing else). So
that a member's loop of creates cannot grow the hub's store (and a site's) without end, a
project also holds at most ``[hub] image_limit`` images, ``vnf_package_limit`` VNF
packages, ``vnf_instance_limit`` VNF instances, and ``site_placement_limit`` objects placed
at any one site (its servers, networks, subnets and volumes there, in all), of which at most
``site_network_limit`` networks (each takes a local VLAN tag of the site's 4094). The
count is read before the create: creates racing each other may pass
it together, so a project can go over by as many as raced (never further: the next create
reads them all).

Bytes (:class:`ProjectBytes`, as Glance's unified limits ``image_size_total`` and
``image_count_uploading``): a project's images hold at most ``[hub] image_bytes_limit`` bytes
of image data in all, and its VNF packages at most ``[hub] vnf_package_bytes_limit`` bytes of
package content (0: no limit). What a project holds is the ``size`` of its records (images
uploaded to the hub's image store, whatever their visibility: a public image counts against
its owner's project; packages with content) plus what its uploads in progress have received
so far (an image VNF onboarding registered from a package's own file is not counted: its
bytes are the package's content). An upload that declares its size (``Content-Length``) and
would take the project over is refused with 403 ``over_limit`` before a byte of it is read,
and the image or package stays as it was. One that does not is cut while it streams, at the
first block that would pass the room left (that block is never stored, the rest never read)
and ends as any refused upload does: an image ``killed``, its chunks left to the chunk gc; a
package back as it was. Nothing of it becomes visible. Content uploaded again to a package
(after ERROR) counts with its old content until it replaces it. At most
``[hub] image_uploads_per_project`` image uploads, and ``vnf_package_uploads_per_project``
package content uploads (and fetches from a URI), of a project are in progress at once: one
more is a 429 with ``Retry-After`` at once, as a user's one stream too many is
(``dashboard_streams_per_user``): an upload ends by itself and frees its place, so this is
"wait and retry", not "delete something first" as ``over_limit`` says (a damaged image's
repair upload is one of them; its bytes are the image's own, counted already). System-scope
images (a system admin's upload with no project) are not counted, as system-scope alarms are
not: the operator's own.

The tally lives in the hub process (one per store): a project's bytes are read from the
store when its first upload begins, and kept in memory while it has uploads in progress
(each block is counted before it is taken, and a finished upload's bytes move from
"receiving" to "held"), so uploads of one project racing each other cannot pass the limit
together. A delete during a project's uploads frees its room once they have all ended (the
bytes are read from the store again then): until then the count is high, never low. Hubs
sharing one etcd store each count only their own uploads in progress: a project can go over
by what its uploads to the other hubs have received.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from atoll.errors import OverLimit, TooManyRequests
from atoll.hub.store.base import ListQuery, Store

UPLOAD_RETRY_AFTER = 10  # seconds a caller with too many uploads in progress waits


async def check_room(store: Store, kind: str, project_id: str, limit: int, what: str,
                     setting: str, key_prefix: str = "") -> None:  # fmt: skip
    """OverLimit unless project ``project_id`` holds fewer than ``limit`` records of
    ``kind`` (``what`` names them for people, ``setting`` is the ``[hub]`` setting; only
    the records whose keys start with ``key_prefix`` count)."""
    await _check(store, kind, {"project_id": project_id}, f"project {project_id}", limit, what,
                 setting, key_prefix)  # fmt: skip


async def check_user_room(store: Store, kind: str, user_id: str, user: str, limit: int,
                          what: str, setting: str) -> None:  # fmt: skip
    """OverLimit unless the user of id ``user_id`` (named ``user``) holds fewer than ``limit``
    records of ``kind``, as :func:`check_room` for a project."""
    await _check(store, kind, {"user_id": user_id}, f"user {user}", limit, what, setting)


async def _check(store: Store, kind: str, filters: dict[str, str], holder: str, limit: int,
                 what: str, setting: str, key_prefix: str = "") -> None:  # fmt: skip
    query = ListQuery(kind, filters=filters, limit=max(limit, 1), key_prefix=key_prefix)
    held = len((await store.list(query)).items) if limit > 0 else 0
    if held >= limit:
        raise OverLimit(
            f"{holder} has {limit} {what} already, as many as it may have "
            f"([hub] {setting}): delete one first"
        )


@dataclass
class _Tally:
    """One project's bytes while it has uploads in progress."""

    held: int  # in its records: read when its first upload began, plus uploads kept since
    receiving: int = 0  # received so far by its uploads in progress
    uploads: int = 0


@dataclass(frozen=True)
class BytesLimit:
    """The settings of one :class:`ProjectBytes`: ``what`` names the bytes for people."""

    what: str  # "image data"
    limit: int  # bytes a project may hold; 0: no limit
    setting: str  # the [hub] setting of limit
    uploads: int = 0  # uploads of a project in progress at once; 0: no limit
    uploads_setting: str = ""


class ProjectBytes:
    """Bytes of one kind each project holds at the hub, counted against ``limit.limit``.

    ``held(project_id)`` reads what the project's records hold from the store. One per hub
    process and kind, made when the app is; :meth:`upload` is the only way in.
    """

    def __init__(self, held: Callable[[str], Awaitable[int]], limit: BytesLimit) -> None:
        self._held = held
        self.limit = limit
        self._tallies: dict[str, _Tally] = {}

    @contextlib.asynccontextmanager
    async def upload(self, project_id: str | None, declared: int | None) -> AsyncIterator[Upload]:
        """An upload of ``project_id`` in progress, for the ``async with`` block.

        TooManyRequests if the project has as many uploads in progress as it may; OverLimit
        if ``declared`` bytes (the body's length, when the client says) would take it over.
        Both before the body is read. No project (a system-scope upload): not counted.
        """
        if project_id is None or not (self.limit.limit or self.limit.uploads):
            yield Upload(self, None)
            return
        tally = self._tallies.get(project_id)
        if tally is None:
            held = await self._held(project_id) if self.limit.limit else 0
            tally = self._tallies.setdefault(project_id, _Tally(held))  # or a racer's
        try:
            self._admit(project_id, tally, declared)
        except BaseException:
            self._drop_if_idle(project_id, tally)
            raise
        tally.uploads += 1
        upload = Upload(self, _Counted(project_id, tally))
        try:
            yield upload
        finally:
            tally.receiving -= upload.received
            tally.uploads -= 1
            self._drop_if_idle(project_id, tally)

    def _admit(self, project_id: str, tally: _Tally, declared: int | None) -> None:
        limit = self.limit
        if limit.uploads and tally.uploads >= limit.uploads:
            raise TooManyRequests(
                f"project {project_id} has {tally.uploads} uploads of {limit.what} in progress, "
                f"as many as it may have at once ([hub] {limit.uploads_setting}): wait for "
                "one to end",
                UPLOAD_RETRY_AFTER,
            )
        if declared is not None:
            self.check(project_id, tally, 0, declared, f"this upload declares {declared} bytes")

    def check(self, project_id: str, tally: _Tally, mine: int, more: int, this: str) -> None:
        """OverLimit if ``more`` bytes, beside the ``mine`` this upload was counted for
        already, would take the project past its limit (``this`` says what the upload is)."""
        limit = self.limit.limit
        others = tally.receiving - mine
        if not limit or tally.held + others + mine + more <= limit:
            return
        arriving = f" (and its other uploads {others} so far)" if others else ""
        room = max(0, limit - tally.held - others)
        raise OverLimit(
            f"project {project_id} holds {tally.held} bytes of {self.limit.what}{arriving}, "
            f"of at most {limit} ([hub] {self.limit.setting}): {this}, more than the {room} "
            "left for it; delete some first"
        )

    def _drop_if_idle(self, project_id: str, tally: _Tally) -> None:
        """A project with no upload in progress is read from the store again next time."""
        if tally.uploads == 0 and self._tallies.get(project_id) is tally:
            del self._tallies[project_id]


@dataclass
class _Counted:
    project_id: str
    tally: _Tally


class Upload:
    """One upload in progress (:meth:`ProjectBytes.upload`): count its blocks as they
    arrive (:meth:`count`), and say when the bytes are kept in a record (:meth:`kept`)."""

    __slots__ = ("_counted", "_quota", "received")

    def __init__(self, quota: ProjectBytes, counted: _Counted | None) -> None:
        self._quota = quota
        self._counted = counted
        self.received = 0  # and not kept yet

    def take(self, n: int) -> None:
        """Count ``n`` more bytes received: OverLimit (and they are not counted) if they
        would take the project past its limit."""
        if self._counted is None:
            return
        tally = self._counted.tally
        this = f"this upload has sent {self.received + n} bytes"
        self._quota.check(self._counted.project_id, tally, self.received, n, this)
        tally.receiving += n
        self.received += n

    async def count(self, blocks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """``blocks``, each counted (:meth:`take`) before it is passed on."""
        async for block in blocks:
            self.take(len(block))
            yield block

    def kept(self, replaces: int = 0) -> None:
        """The upload's bytes are now in its record (which held ``replaces`` bytes before)."""
        if self._counted is not None:
            tally = self._counted.tally
            tally.receiving -= self.received
            tally.held += self.received - replaces
        self.received = 0
