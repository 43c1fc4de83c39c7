"""Settings of the local storage driver: the ``[storage]`` group of the agent's settings
(``atoll.site_agent.settings``, env ``ATOLL_STORAGE_*``), passed as it is to ``LocalStorage``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

GiB = 1024**3


@dataclass(frozen=True)
class LocalStorageSettings:
    # Everything lives under here: images/, disks/, volumes/, snapshots/, tmp/. None (the
    # default) is ``<data_dir>/storage`` of the agent.
    root: Path | None = None
    # GiB the site may use; 0 means the size of the filesystem holding ``root``.
    capacity_gb: float = 0.0
    # Virtual disk sizes per byte of capacity (thin provisioning, as Nova's
    # disk_allocation_ratio); 1.0 = no overcommit. Also what the API's capacity check uses.
    disk_allocation_ratio: float = 1.0
    # Cap (GiB) on what cached images may allocate; adding beyond it evicts the least
    # recently used images no root disk is backed by (and the caller did not pin). 0: no cap.
    image_cache_max_gb: float = 20.0
    # Largest virtual size (GiB) an image may have; a larger one is refused when it is added
    # (the hub's [images] max_virtual_size, whose default this is).
    image_virtual_max_gb: float = 1024.0
    # Seconds one qemu-img run may take (copies of large volumes take a while).
    qemu_img_timeout: float = 600.0
    # POST /v1/images {"id", "file", "sha256"} copies the named file from here (None: off);
    # read by the agent's image catalog, not the driver.
    image_import_dir: Path | None = None

    @property
    def capacity_bytes(self) -> int:
        return int(self.capacity_gb * GiB)

    @property
    def image_cache_bytes(self) -> int:
        return int(self.image_cache_max_gb * GiB)

    @property
    def image_virtual_max_bytes(self) -> int:
        return int(self.image_virtual_max_gb * GiB)
