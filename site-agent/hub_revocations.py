"""Following the hub's token revocations (until sync carries them to sites).

A site verifies hub-signed tokens offline (:mod:`.auth`), so it must also know which of them
the hub has revoked: a logged-out token, every token of a deleted or revoked user, project or
application credential. :class:`HubRevocationPoller` asks the hub for its whole list (``GET
/v1/revocations``, page after page, by the site certificate: see :class:`.hub_link.HubLink`
and the one client core) every ``revocation_poll_interval`` seconds and hands it to the
:class:`~.auth.Authenticator`, which keeps it in the local store: it holds across restarts
and while the hub is unreachable (the hub prunes an entry only once every token it could
stop has expired). Matching a token against the list is :class:`atoll.tokens.RevocationList`,
the hub's own. The pass runs on :class:`atoll.background.Loop`, so a failing poll is logged
once, and its recovery once.
"""

from __future__ import annotations

import logging

from atoll.background import Loop, LoopSettings
from atoll.site_agent.auth import Authenticator
from atoll.site_agent.hub_link import HubLink

log = logging.getLogger(__name__)

PATH = "/v1/revocations"
PAGE = "1000"


class HubRevocationPoller:
    def __init__(self, link: HubLink, auth: Authenticator, interval: float = 10.0) -> None:
        self.link = link
        self.auth = auth
        self.client = link.client()  # taken afresh at each pass (a renewed certificate)
        self._loop = Loop(
            f"following revocations from the hub at {link.url}",
            self._pass,
            LoopSettings(interval=interval, stop_timeout=1.0),
            logger=log,
        )

    async def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        await self.client.close()

    async def _pass(self) -> None:
        await self.poll_once()

    async def poll_once(self) -> int:
        """Fetch the hub's list and keep it; how many revocations it holds."""
        self.client = self.link.client()
        try:
            entries = await self.client.list_all(PATH, {"limit": PAGE})
        finally:
            await self.client.close()  # no connection held between passes
        return await self.auth.store.call(self.auth.set_revocations_blocking, entries)
