"""Image settings (section ``[images]``), loaded with :func:`atoll.settings.load`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from atoll.errors import ConfigError

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass(frozen=True)
class ImageSettings:
    """Limits and places for images, on the hub and on a site.

    - ``chunk_size``: bytes per content-addressed chunk (the last one may be shorter).
    - ``max_image_size`` / ``max_chunks`` / ``max_virtual_size``: upload limits; over any of
      them the upload is refused and nothing of it becomes visible.
    - ``validate_head_bytes``: how much of the start of an upload ``qemu-img info`` sees
      (every format header, backing file name and header extension lives there).
    - ``bandwidth_bps``: per-site cap for chunk fetches, bytes per second (0: no cap).
    - ``fetch_concurrency`` / ``fetch_retries``: parallel chunk fetches, and attempts per
      chunk before a transfer gives up (it resumes from what it has the next time).
    - ``reference_cache_dir``: downloaded .debs and the built reference image.
    - ``verify_on_serve``: the share (0.0-1.0) of chunks the hub hashes again before it
      serves them (chunk route and image download); a chunk that fails is quarantined and
      never served.
    - ``scrub_interval``: seconds between the hub's scrubs, which hash every stored chunk,
      quarantine corrupt ones and mark the images they belong to (0: no periodic scrub).
    - ``quarantine_retention``: seconds a quarantined chunk is kept for a person to look at
      before the hub's chunk gc deletes it (0: kept until someone does).
    """

    chunk_size: int = 4 * MiB
    max_image_size: int = 64 * GiB
    max_chunks: int = 65536
    max_virtual_size: int = 1024 * GiB
    validate_head_bytes: int = 16 * MiB
    bandwidth_bps: int = 0
    fetch_concurrency: int = 4
    fetch_retries: int = 5
    reference_cache_dir: Path = Path("/var/cache/atoll/reference")
    verify_on_serve: float = 0.1
    scrub_interval: float = 24 * 3600.0
    quarantine_retention: float = 30 * 24 * 3600.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.verify_on_serve <= 1.0:
            raise ConfigError(
                f"[images].verify_on_serve must be between 0.0 and 1.0, not {self.verify_on_serve}"
            )
        if self.scrub_interval < 0:
            raise ConfigError(f"[images].scrub_interval must be >= 0, not {self.scrub_interval}")
        if self.quarantine_retention < 0:
            raise ConfigError(
                f"[images].quarantine_retention must be >= 0, not {self.quarantine_retention}"
            )
