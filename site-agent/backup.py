"""``atoll site-agent backup FILE`` / ``atoll site-agent restore FILE --data-dir EMPTY``.

A site backup (:mod:`atoll.backup`) holds the agent's data directory: its SQLite store
(``agent.db``: desired objects, observed status, journal, outbox and inbox, the local
admin credential's hash, the telemetry ring; a consistent snapshot taken while the agent
runs) and the hub link (``hub/``: the hub's CA, the site certificate and key, the hub's
token key). Guest disks and caches are left out unless asked for (``with_disks``): the
storage root when it is under the data dir (root disks, volumes, the image cache), the
instances dir (config drives, console logs) and the hub image chunk cache; the agent
rebuilds what it can after a restore (images come again from the hub), but a volume's
data comes back only from a backup that has it.
"""

from __future__ import annotations

from pathlib import Path

from atoll import backup
from atoll.errors import ConfigError
from atoll.site_agent.settings import SiteAgentSettings

COMPONENT = "site-agent"


def left_out(settings: SiteAgentSettings) -> list[Path]:
    agent = settings.site_agent
    out = [agent.instances_dir, agent.data_dir / "image_chunks", agent.data_dir / "fake-storage"]
    if settings.storage.root is not None:
        out.append(settings.storage.root)
    return out


def back_up(settings: SiteAgentSettings, archive: Path, *, with_disks: bool) -> backup.Summary:
    agent = settings.site_agent
    if not agent.db_path.exists():
        raise ConfigError(f"{agent.data_dir} is not a site agent's data directory")
    leave_out = [] if with_disks else left_out(settings)
    return backup.backup(agent.data_dir, archive, COMPONENT, [agent.db_path], leave_out)


def restore(archive: Path, data_dir: Path) -> backup.Summary:
    return backup.restore(archive, data_dir, COMPONENT)
