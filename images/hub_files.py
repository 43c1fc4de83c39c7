"""Streaming an image file to and from the hub (``PUT``/``GET /v1/images/{id}/file``).

Both go through the one client core (:meth:`atoll.client.Client.open`), the body streamed
in blocks both ways: never the whole image in memory. ``progress(done, total)`` is called
after every block (the CLI draws its bar with it). Error replies become :mod:`atoll.errors`
types, with the image service's reasons (``image_rejected``...) as problems.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from atoll.client import HubClient, Response, quote
from atoll.errors import InvalidInput, TemporaryError

Progress = Callable[[int, int], None]
BLOCK = 1024 * 1024


def file_sha256(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    total, done = path.stat().st_size, 0
    with path.open("rb") as fh:
        while block := fh.read(BLOCK * 4):
            digest.update(block)
            done += len(block)
            if progress is not None:
                progress(done, total)
    return digest.hexdigest()


def send_file(
    client: HubClient,
    image_id: str,
    path: Path,
    *,
    sha256: str | None = None,
    progress: Progress | None = None,
    timeout: float = 600.0,
) -> Any:
    """Stream ``path`` as the image's data; the hub's reply (the image record)."""
    size = path.stat().st_size
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
    if sha256:
        headers["X-Image-Sha256"] = sha256
    with path.open("rb") as fh:
        blocks = _blocks(fh, size, progress)
        path_ = f"/v1/images/{quote(image_id)}/file"
        reply = client.open("PUT", path_, raw=blocks, headers=headers, timeout=timeout)
    try:
        raw = reply.read()
    finally:
        reply.close()
    return json.loads(raw) if raw else None


def _blocks(fh: IO[bytes], size: int, progress: Progress | None) -> Iterator[bytes]:
    """The file in 1 MiB blocks as they are sent, reporting progress."""
    done = 0
    while block := fh.read(BLOCK):
        done += len(block)
        if progress is not None:
            progress(done, size)
        yield block


def receive_file(
    client: HubClient,
    image_id: str,
    dest: Path,
    *,
    progress: Progress | None = None,
    timeout: float = 600.0,
) -> str:
    """Download the image's data to ``dest`` (via a temporary file), verified; its sha256."""
    part = dest.with_name(f".{dest.name}.part")
    resp = client.open(
        "GET", f"/v1/images/{quote(image_id)}/file", headers={"Accept": "*/*"}, timeout=timeout
    )
    try:
        expected = resp.headers.get("X-Image-Sha256", "")
        total = int(resp.headers.get("Content-Length", "0") or 0)
        digest = hashlib.sha256()
        with part.open("wb") as out:
            _copy(resp, out, digest, total, progress)
        if expected and digest.hexdigest() != expected:
            raise InvalidInput(f"the download of image {image_id} does not match its checksum")
        part.replace(dest)
        return digest.hexdigest()
    except (OSError, http.client.HTTPException) as exc:
        raise TemporaryError(f"the download from {client.url} failed: {exc}") from exc
    finally:
        part.unlink(missing_ok=True)
        resp.close()


def _copy(
    resp: Response,
    out: IO[bytes],
    digest: Any,
    total: int,
    progress: Progress | None,
) -> None:
    done = 0
    zero = bytes(BLOCK)
    while block := resp.read(BLOCK):
        digest.update(block)
        if block == zero[: len(block)]:
            out.seek(len(block), os.SEEK_CUR)  # keep zeros sparse
        else:
            out.write(block)
        done += len(block)
        if progress is not None:
            progress(done, total)
    out.truncate(done)
    if total and done != total:
        raise TemporaryError(f"the download ended after {done} of {total} bytes")


class ProgressBar:
    """``label [#####.....] 45% 120.3 MiB/s`` on stderr, redrawn at most 10 times a second."""

    def __init__(self, label: str, stream: IO[str] | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.start = time.monotonic()
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.1 and done < total):
            return
        self._last = now
        share = done / total if total else 1.0
        rate = done / max(now - self.start, 1e-6) / 2**20
        bar = "#" * int(share * 30)
        self.stream.write(f"\r{self.label} [{bar:<30}] {share:4.0%} {rate:7.1f} MiB/s")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()
