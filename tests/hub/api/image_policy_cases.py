"""The policy matrix rows for the image routes (added to ``test_policy_matrix.CASES``).

Targets are images made straight in the store for project ``a`` (own) or ``b`` (other):
``queued`` ones (no data: reading the file, manifest or chunks answers 409 to those who may
see them) and ``active`` ones without data (a further upload is a 409). Another project's
private image is a 404, as if absent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.hub.hubtest import Api

CHUNK = "0" * 64


def image_id(n: str) -> str:
    return f"{int(n):032x}"


async def make_image(api: Api, target: str, n: str, status: str = "queued") -> None:
    value = {
        "id": image_id(n),
        "name": f"i{n}",
        "project": target,
        "project_id": (await api.store.get("project", target)).value["id"],
        "visibility": "private",
        "disk_format": "raw",
        "container_format": "bare",
        "status": status,
        "properties": {},
        "source": "upload",
        "created_at": "2030-01-01T00:00:00Z",
    }
    await api.store.put("image", image_id(n), value, expect_revision=0)


async def make_active_image(api: Api, target: str, n: str) -> None:
    await make_image(api, target, n, "active")


def item(target: str, n: str) -> str:
    return f"/v1/images/{image_id(n)}"


def image_cases(case: Callable[..., Any], only: Callable[..., dict[str, int]]) -> list[Any]:
    read_own, read_other = only(409, UN=403), only(404, SA=409, SR=409, UN=403)
    write_own = only(SA=409, PA=409, PM=409)
    write_other = only(SA=409, PA=404, PM=404)
    return [
        case("images.list", "GET", lambda t, n: "/v1/images", only(200, UN=403)),
        case(
            "images.show",
            "GET",
            item,
            only(200, UN=403),
            other=only(404, SA=200, SR=200, UN=403),
            prepare=make_image,
        ),
        case(
            "images.create",
            "POST",
            lambda t, n: "/v1/images",
            only(SA=201, PA=201, PM=201),
            body=lambda t, n: {"name": f"n{n}", "disk_format": "raw"},
        ),
        case(
            "images.upload",
            "PUT",
            lambda t, n: item(t, n) + "/file",
            write_own,
            other=write_other,
            prepare=make_active_image,
            notes="an active image takes no more data (409) for those allowed to upload",
        ),
        case(
            "images.delete",
            "DELETE",
            item,
            only(SA=204, PA=204, PM=204),
            other=only(SA=204, PA=404, PM=404),
            prepare=make_image,
        ),
        case(
            "images.download",
            "GET",
            lambda t, n: item(t, n) + "/file",
            read_own,
            other=read_other,
            prepare=make_image,
        ),
        case(
            "images.manifest",
            "GET",
            lambda t, n: item(t, n) + "/manifest",
            read_own,
            other=read_other,
            prepare=make_image,
        ),
        case(
            "images.chunk",
            "GET",
            lambda t, n: item(t, n) + f"/chunks/{CHUNK}",
            read_own,
            other=read_other,
            prepare=make_image,
        ),
        case(
            "images.prestage",
            "POST",
            lambda t, n: item(t, n) + "/prestage",
            write_own,
            other=write_other,
            body=lambda t, n: {"sites": ["s1"]},
            prepare=make_image,
            notes="a queued image cannot be prestaged (409) by those allowed to",
        ),
        case(
            "images.scrub",
            "POST",
            lambda t, n: "/v1/images/scrub",
            only(SA=200),
            notes="reads the whole image store: system admins only",
        ),
        case("image_transfers.list", "GET", lambda t, n: "/v1/image_transfers", only(200, UN=403)),
        case(
            "sites.image_transfers.list",
            "GET",
            lambda t, n: "/v1/sites/s1/image_transfers",
            only(SA=200, SR=200),
        ),
        case(
            "sites.image_transfers.update",
            "PATCH",
            lambda t, n: f"/v1/sites/s1/image_transfers/{image_id(n)}",
            only(SA=200),
            body=lambda t, n: {"state": "pulling", "bytes_done": 0},
            prepare=make_image,
            notes="sites report as a user with a system member (or admin) role",
        ),
    ]
