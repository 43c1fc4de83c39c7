"""``SiteClient``: a blocking client of one agent's local API, for the CLI.

Built on the one client core (:class:`atoll.client.Client`): errors in the agent's JSON shape
come back as the matching :mod:`atoll.errors` type, with the problems and the request id in
the message, so the CLI prints what the agent said.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from atoll.client import Client, quote


class SiteClient(Client):
    what = "the site agent"
    example = "http://127.0.0.1:8471"
    ca_hint = "pass --site-ca-file (or ATOLL_SITE_CA_FILE) with the CA that signed its certificate"

    def request_json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = self.request(method, path, body).data
        return {} if data is None else data

    def upload_image(self, image_id: str, path: Path, sha256: str) -> Any:
        """``PUT /v1/images/{id}/file``: stream ``path`` (never read whole into memory)."""
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(path.stat().st_size),
            "X-Image-Sha256": sha256,
        }
        with path.open("rb") as fh:
            reply = self.request(
                "PUT", f"/v1/images/{quote(image_id)}/file", raw=fh, headers=headers
            )
        return {} if reply.data is None else reply.data

    def token_for(self, secret: str, name: str = "admin") -> str:
        reply = self.request("POST", "/v1/auth/tokens", {"name": name, "secret": secret})
        return str(reply.data["token"])
