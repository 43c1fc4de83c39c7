"""What a site agent runs toward its hub, before and after joining it.

- Not joined yet: the zeroconf advert ``_atoll-site._tcp`` (TXT ``name``, ``version``,
  ``fp``: the site key's pin; ``[hub] advertise``) so ``atoll site discover`` finds it. It
  registers in the background: probing the link for the name takes about a second, which
  the local API does not wait for.
- Always: a look every :data:`WATCH_INTERVAL` seconds at the files ``atoll site-agent join``
  leaves (:class:`.hub_link.HubLink`), so joining (or joining again) needs no restart.
- Joined: the advert is withdrawn, and the image puller (:mod:`.hub_images`), the revocation
  poller (:mod:`.hub_revocations`) and the certificate renewer
  (:class:`.enrollment.CertRenewer`) run, all on the site certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from atoll import __version__
from atoll.background import Loop, LoopSettings
from atoll.errors import ConfigError
from atoll.site_agent.auth import Authenticator
from atoll.site_agent.enrollment import CertRenewer
from atoll.site_agent.hub_link import HubLink, fingerprint, site_key
from atoll.site_agent.settings import HubLinkSettings, SiteAgentSettings
from atoll.sync.discovery import SITE_SERVICE, Advertiser

if TYPE_CHECKING:
    from atoll.site_agent.hub_images import HubImagePuller, ImageSink
    from atoll.site_agent.hub_revocations import HubRevocationPoller

log = logging.getLogger(__name__)

WATCH_INTERVAL = 2.0  # seconds between looks at link.json (a small file read)
RETIRED = ("url", "ca_file", "token", "user", "password")  # [hub] keys joining replaced


def warn_retired(hub: HubLinkSettings) -> None:
    """Say once that the [hub] credentials are no longer used (sites join with a code)."""
    set_keys = [key for key in RETIRED if getattr(hub, key)]
    if set_keys:
        log.warning(
            "[hub] %s are no longer used: a site reaches its hub by the certificate it gets "
            "from joining ('atoll site-agent join CODE'); remove them from the configuration",
            ", ".join(set_keys),
        )


class HubAttachment:
    def __init__(
        self,
        settings: SiteAgentSettings,
        storage: ImageSink,
        store: Any,
        auth: Authenticator,
        on_attach: Callable[[HubLink], Awaitable[None]] | None = None,
    ) -> None:
        """``on_attach(link)``: also run when the site is (found) joined, e.g. to start the
        sync session."""
        self.on_attach = on_attach
        self.settings = settings
        self.data_dir = settings.site_agent.data_dir
        self.storage = storage
        self.store = store
        self.auth = auth
        self.link: HubLink | None = None
        self.images: HubImagePuller | None = None
        self.revocations: HubRevocationPoller | None = None
        self.renewer = CertRenewer(self.data_dir)
        key = site_key(self.data_dir)  # made at first start: the advert names it
        self.advert: Advertiser | None = None
        self._advertising: asyncio.Task[bool] | None = None  # the advert's registration
        if settings.hub.advertise:
            properties = {
                "name": settings.site_agent.site_name,
                "version": __version__,
                "fp": fingerprint(key),
            }
            self.advert = Advertiser(
                SITE_SERVICE, settings.site_agent.site_name, settings.site_agent.port, properties
            )
        self._watch = Loop(
            "looking for a hub link", self._look, LoopSettings(interval=WATCH_INTERVAL), logger=log
        )

    @property
    def joined(self) -> bool:
        return self.link is not None

    async def start(self) -> None:
        warn_retired(self.settings.hub)
        try:
            link = HubLink.load(self.data_dir)
        except ConfigError as exc:  # the agent runs on its own; join again to mend it
            log.error("not using the hub link: %s", exc.message)
            link = None
        if link is not None:
            await self._attach(link)
        elif self.advert is not None:
            self._advertising = asyncio.create_task(self.advert.start())
        self._watch.start()
        await self.renewer.start()

    async def _look(self) -> None:
        """Attach at a first join; re-attach when the site joined another hub (or joined
        again as another site). A renewed certificate needs nothing: the link reloads it."""
        link = HubLink.load(self.data_dir)
        if link is None or (
            self.link is not None and (link.url, link.site_id) == (self.link.url, self.link.site_id)
        ):
            return
        log.info("joined hub %s as site %s (%s)", link.url, link.site_name, link.site_id)
        await self._detach()
        await self._attach(link)

    async def _attach(self, link: HubLink) -> None:
        # Imported at the first attach: an agent that never joins (a lab box, a site before
        # its field engineer's join) does not hold the image puller's modules.
        from atoll.site_agent import hub_images
        from atoll.site_agent.hub_revocations import HubRevocationPoller

        self.link = link
        await self._withdraw_advert()
        hub = self.settings.hub
        self.images = hub_images.from_settings(self.settings, link, self.storage, self.store)
        self.revocations = HubRevocationPoller(link, self.auth, hub.revocation_poll_interval)
        await self.images.start()
        await self.revocations.start()
        if self.on_attach is not None:
            await self.on_attach(link)

    async def _detach(self) -> None:
        if self.revocations is not None:
            await self.revocations.stop()
        if self.images is not None:
            await self.images.stop()
        self.images = self.revocations = None

    async def stop(self) -> None:
        await self._watch.stop()
        await self.renewer.stop()
        await self._withdraw_advert()
        await self._detach()

    async def _withdraw_advert(self) -> None:
        if self._advertising is not None:  # a registration under way stops short
            self._advertising.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._advertising
            self._advertising = None
        if self.advert is not None:
            await self.advert.stop()
