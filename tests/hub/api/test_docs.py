"""``/docs``: the API documentation page, with every file it loads served by the hub."""

from __future__ import annotations

import re

from tests.hub.hubtest import Api


async def test_docs_render_the_openapi_document_from_files_the_hub_serves(api: Api) -> None:
    page = await api.client.get("/docs")
    assert page.status == 200 and page.content_type == "text/html"
    html = await page.text()
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    loaded = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert loaded and all(url.startswith("/docs/") for url in loaded), loaded  # no CDN
    assert "<script>" not in html  # no inline script: the policy would block it
    for url in loaded:
        asset = await api.client.get(url)
        assert asset.status == 200, url
        assert asset.content_type in ("text/javascript", "text/css", "image/png"), url
        assert len(await asset.read()) > 0
    script = await (await api.client.get("/docs/atoll-docs.js")).text()
    assert '"/v1/openapi.json"' in script
    bundle = await (await api.client.get("/docs/swagger-ui-bundle.js")).text()
    assert "SwaggerUIBundle" in bundle
    missing = await api.client.get("/docs/index.html")
    assert missing.status == 404 and (await missing.json())["error"]["code"] == "not_found"
