"""Streaming an image file to and from the hub (``PUT``/``GET /v1/images/{id}/file``).

The JSON calls go through :class:`atoll.client.HubClient`; the file body does not fit its
read-it-all model, so it travels here over ``http.client`` in blocks: never the whole image
in memory. ``progress(done, total)`` is called after every block (the CLI draws its bar
with it). Error replies become the same :mod:`atoll.errors` types the client raises.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import ssl
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from atoll.certs import client_ssl_context
from atoll.client import HubClient, error_from_body
from atoll.errors import InvalidInput, PayloadTooLarge, Problem, TemporaryError

Progress = Callable[[int, int], None]
BLOCK = 1024 * 1024


def _connection(client: HubClient, timeout: float) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(client.url)
    if parts.scheme == "https":
        context: ssl.SSLContext = client_ssl_context(
            Path(client.ca_file) if client.ca_file else None
        )
        return http.client.HTTPSConnection(parts.netloc, timeout=timeout, context=context)
    return http.client.HTTPConnection(parts.netloc, timeout=timeout)


def _headers(client: HubClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.token}"} if client.token else {}


def _reply(resp: http.client.HTTPResponse) -> Any:
    raw = resp.read()
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        data = {"raw": raw[:200].decode(errors="replace")}
    if resp.status >= 400:
        raise _error(resp.status, data)
    return data


def _error(status: int, data: Any) -> Exception:
    """The client's error, keeping the problems of the image service's own 4xx codes
    (``image_rejected``, ``checksum_mismatch``...), which say why an upload was refused."""
    error = error_from_body(status, data)
    body = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, InvalidInput) or not isinstance(body, dict) or status >= 500:
        return error
    problems = [
        Problem(str(p.get("where", "")), str(p.get("what", "")))
        for p in body.get("problems") or []
        if isinstance(p, dict)
    ]
    if not problems:
        return error
    kind = PayloadTooLarge if status == 413 else InvalidInput
    refused = kind(error.message, problems)
    refused.code = str(body.get("code", refused.code))
    return refused


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
    conn = _connection(client, timeout)
    try:
        conn.putrequest("PUT", f"/v1/images/{urllib.parse.quote(image_id)}/file")
        headers = {
            **_headers(client),
            "Content-Type": "application/octet-stream",
            "Content-Length": str(size),
            "Accept": "application/json",
        }
        if sha256:
            headers["X-Image-Sha256"] = sha256
        for key, value in headers.items():
            conn.putheader(key, value)
        conn.endheaders()
        done = 0
        with path.open("rb") as fh:
            while block := fh.read(BLOCK):
                conn.send(block)
                done += len(block)
                if progress is not None:
                    progress(done, size)
        return _reply(conn.getresponse())
    except (OSError, http.client.HTTPException) as exc:
        raise TemporaryError(f"the upload to {client.url} failed: {exc}") from exc
    finally:
        conn.close()


def receive_file(
    client: HubClient,
    image_id: str,
    dest: Path,
    *,
    progress: Progress | None = None,
    timeout: float = 600.0,
) -> str:
    """Download the image's data to ``dest`` (via a temporary file), verified; its sha256."""
    conn = _connection(client, timeout)
    part = dest.with_name(f".{dest.name}.part")
    try:
        path = f"/v1/images/{urllib.parse.quote(image_id)}/file"
        conn.request("GET", path, headers=_headers(client))
        resp = conn.getresponse()
        if resp.status >= 400:
            _reply(resp)
        expected = resp.getheader("X-Image-Sha256", "")
        total = int(resp.getheader("Content-Length", "0") or 0)
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
        conn.close()


def _copy(
    resp: http.client.HTTPResponse,
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
