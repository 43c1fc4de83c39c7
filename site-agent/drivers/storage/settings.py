"""Settings of the local storage driver (section ``[storage]``, env ``ATOLL_STORAGE_*``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LocalStorageSettings:
    # Everything lives under here: images/, disks/, volumes/, snapshots/, tmp/.
    root: Path = Path("/var/lib/atoll/storage")
    # Bytes the site may use; 0 means the size of the filesystem holding ``root``.
    capacity_bytes: int = 0
    # How far virtual sizes may exceed capacity (thin provisioning); 1.0 = no overcommit.
    overcommit_ratio: float = 1.0
    # Cap on the bytes cached images may allocate; adding beyond it evicts the least recently
    # used images no root disk is backed by (and the caller did not pin). 0 means no cap.
    image_cache_bytes: int = 0
    # Seconds one qemu-img run may take (copies of large volumes take a while).
    qemu_img_timeout: float = 600.0
