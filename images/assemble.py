"""Writing an image file from its chunks, in manifest order, verified, then renamed.

:class:`Assembly` writes into a temporary file beside the destination; zero chunks become
holes. Chunks not in ``fresh`` (held from before rather than verified on arrival) are
hashed again, and a bad one is dropped from the store and reported instead of written.
:meth:`Assembly.finish` checks the whole-image sha256 and renames the file into place, so
the destination is either absent or the complete, verified image. Blocking: call each
method from a worker thread in async code; the fetcher calls :meth:`write` per chunk while
later chunks are still arriving.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import secrets
from pathlib import Path

from atoll.images.chunks import ChunkStore
from atoll.images.errors import TransferError
from atoll.images.manifest import Manifest


@functools.lru_cache(maxsize=8)
def zero_digest(length: int) -> str:
    return hashlib.sha256(_zeros(length)).hexdigest()


@functools.lru_cache(maxsize=8)
def _zeros(length: int) -> bytes:
    return bytes(length)


class Assembly:
    def __init__(self, store: ChunkStore, manifest: Manifest, dest: Path, fresh: set[str]) -> None:
        self.store = store
        self.manifest = manifest
        self.dest = dest
        self.fresh = fresh
        self.bad: list[str] = []
        self.tmp = dest.with_name(f".{dest.name}.part-{secrets.token_hex(4)}")
        self._out = self.tmp.open("wb")
        self._image = hashlib.sha256()

    def write(self, index: int, data: bytes | None = None) -> None:
        """Append chunk ``index`` (chunks must come in order); ``data``: its bytes, verified on
        arrival, when the caller still holds them (else they are read from the store)."""
        digest, length = self.manifest.chunks[index], self.manifest.chunk_length(index)
        if digest == zero_digest(length):
            self._image.update(_zeros(length))
            self._out.seek(length, os.SEEK_CUR)
            return
        if data is None or digest not in self.fresh:
            data = self.store.read(digest)
        if digest not in self.fresh and hashlib.sha256(data).hexdigest() != digest:
            self.store.discard(digest)
            self.bad.append(digest)
            self._out.seek(length, os.SEEK_CUR)
            return
        self._image.update(data)
        self._out.write(data)

    def write_all(self) -> list[str]:
        for index in range(len(self.manifest.chunks)):
            self.write(index)
        return self.finish()

    def finish(self) -> list[str]:
        """Verify and rename into place; or return the bad chunks (and keep no file)."""
        try:
            self._out.truncate(self.manifest.size)
            self._out.flush()
            os.fsync(self._out.fileno())
            self._out.close()
            if self.bad:
                return sorted(set(self.bad))
            if self._image.hexdigest() != self.manifest.sha256:
                raise TransferError(
                    f"the assembled image {self.dest.name} hashes to {self._image.hexdigest()}, "
                    f"not {self.manifest.sha256}: the manifest and its chunks disagree"
                )
            self.tmp.rename(self.dest)
            return []
        finally:
            self.abort()

    def abort(self) -> None:
        self._out.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()
