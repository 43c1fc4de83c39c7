"""``/vnfpkgm/v1/vnf_packages``: ETSI SOL005 (2.6.1, as Tacker serves it) VNF package
management, per project, with the SOL013 conventions of :mod:`.sol013` (``Version``
``2.1.0``, optional as with Tacker; ProblemDetails; bare-array lists with ``filter``,
attribute selectors and ``Link`` paging; merge-patch).

Create a package (``POST``), upload its CSAR (``PUT .../package_content``, a streamed
``application/zip`` body, answered 202), then poll it until ``onboardingState`` is ONBOARDED
or ERROR (``onboardingFailureDetails`` lists every problem). ``GET .../vnfd`` gives the VNFD
(``text/plain`` YAML when it is one file, else a zip of the Definitions files);
``GET .../package_content`` the stored CSAR; ``GET .../artifacts/{path}`` one of its
``additionalArtifacts`` (or a carried image). ``POST .../package_content/upload_from_uri``
has the hub fetch the CSAR instead (from the hosts ``vnf_package_uri_hosts`` names only).
Images the VNFD needs and the package does not carry are mapped with
``?image_map=NODE=IMAGE`` on the upload (repeatable; IMAGE is a catalog image id or name),
else found in the catalog by SHA-256 or name. The content may also be a zip delivering a
signed CSAR (SOL004 security option 2: ``NAME.csar``, ``NAME.cms``, ``NAME.cert``); the
package's signatures (the manifest's, the CSAR's, signed artifacts') are checked as ``[hub]
vnf_package_signature`` says (:mod:`atoll.hub.catalog.vnf_package_signature`; the record's
``packageSecurityOption`` and ``signature`` say which held and who signed). A project's
packages hold at most ``[hub] vnf_package_bytes_limit`` bytes of content (the uploads;
:mod:`atoll.hub.identity.limits`): an upload or
fetch that would pass it is refused with 403 ``over_limit``, before it is read when its
``Content-Length`` says, else where it passes; the package stays as it was. At most ``[hub]
vnf_package_uploads_per_project`` uploads and fetches of a project are in progress at once:
one more is a 429 with ``Retry-After`` (a ProblemDetails), the package as it was.

Differences from SOL005: packages belong to the caller's project (others' answer 404); the
record adds ``project``, ``project_id``, ``flavours``, ``warnings``, ``signature``, ``size``,
``packageSecurityOption`` (SOL005's from 2.7.1), ``createdAt``, ``updatedAt`` and each
software image's ``catalogImage``; ``PATCH`` also honours
``If-Match``; ``upload_from_uri`` fetches before it answers 202 (a URI that cannot be read
is a 400 at once) and only from allowed hosts. Multipart uploads are not offered.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from aiohttp import web

from atoll import ids, jsonencode
from atoll.api.routing import Route
from atoll.api.schema import check
from atoll.errors import (
    Conflict,
    InvalidInput,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    Problem,
    StaleRevision,
    UnsupportedMediaType,
)
from atoll.hub.api import records, sol013
from atoll.hub.api.context import HUB, Hub, claims_of, hub_of, now_iso
from atoll.hub.api.replies import (
    if_match,
    no_content,
    path_id,
    read_body,
    reply,
)
from atoll.hub.api.vnf_package_shapes import (
    ARTIFACT_PATH,
    COMPLEX,
    IMAGE_MAP,
    PACKAGE,
    PACKAGE_CREATE,
    PACKAGE_MODIFY,
    PATH,
    UPLOAD_FROM_URI,
    USER_DATA,
)
from atoll.hub.catalog import vnf_packages as pkgs
from atoll.hub.catalog.image_sha512 import ImageSha512
from atoll.hub.catalog.images import Image
from atoll.hub.catalog.vnf_onboarding import Onboarding, update_package
from atoll.hub.catalog.vnf_package_fetch import allowed_uri, uri_blocks, uri_hosts
from atoll.hub.catalog.vnf_package_files import (
    PackageFiles,
    entry_chunks,
    entry_size,
    missing_here,
    read_single_vnfd,
)
from atoll.hub.catalog.vnf_package_signature import signature_check
from atoll.hub.catalog.vnf_packages import PackageRecord
from atoll.hub.identity.limits import BytesLimit, ProjectBytes, check_room
from atoll.hub.store.base import Record, Store
from atoll.hub.store.query import list_all
from atoll.images.serve import request_blocks
from atoll.nfv.package import PackageLimits
from atoll.timestamps import iso

API = sol013.NfvApi("vnfpkgm", "v1", ("2.1.0",), version_required=False)
BASE = API.prefix + "/vnf_packages"
ITEM = BASE + "/{vnfPkgId}"
LISTING = sol013.Listing(PACKAGE, COMPLEX)
ZIP_TYPES = ("application/zip", "application/octet-stream", "application/x-zip-compressed")
ONBOARDING = web.AppKey("vnf_onboarding", Onboarding)
QUOTA = web.AppKey("vnf_package_bytes", ProjectBytes)


def install(app: web.Application, hub: Hub, sha512: ImageSha512 | None = None) -> None:
    """Give the app its onboarding worker (one per hub, one set of bundled SOL001 types);
    ``sha512`` is the image service's, which onboarding waits on for images uploaded a
    moment before (:mod:`atoll.hub.catalog.image_sha512`)."""
    files = PackageFiles(hub.settings.data_dir / "vnf_packages")
    check = signature_check(hub.settings)
    uri_hosts(hub.settings.vnf_package_uri_hosts)  # a bad entry stops the hub at start
    onboarding = Onboarding(
        hub.store,
        files,
        lambda: iso(hub.clock()),
        signature_check=check,
        # a signed CSAR delivered in a zip is unpacked: held to what an upload may be
        limits=PackageLimits(unpacked_csar_bytes=hub.settings.max_vnf_package_bytes),
        sha512=sha512,
    )
    app[ONBOARDING] = onboarding
    limit = BytesLimit(
        "VNF package content",
        hub.settings.vnf_package_bytes_limit,
        "vnf_package_bytes_limit",
        hub.settings.vnf_package_uploads_per_project,
        "vnf_package_uploads_per_project",
    )
    app[QUOTA] = ProjectBytes(functools.partial(held_bytes, hub.store), limit)

    async def recover(app: web.Application) -> None:
        await onboarding.recover()

    async def stop(app: web.Application) -> None:
        await onboarding.stop()

    app.on_startup.append(recover)
    app.on_cleanup.append(stop)


async def held_bytes(store: Store, project_id: str) -> int:
    """Bytes of package content the project's packages hold (``[hub]
    vnf_package_bytes_limit``)."""
    records = await list_all(store, pkgs.KIND, {"project_id": project_id})
    return sum(PackageRecord.from_value(r.value).size or 0 for r in records)


def _onboarding(request: web.Request) -> Onboarding:
    return request.app[ONBOARDING]


async def _visible(request: web.Request) -> tuple[Record, PackageRecord]:
    """The stored package the path names, if the caller may see it (404 otherwise)."""
    package_id = path_id(request, "vnfPkgId")
    claims = claims_of(request)
    try:
        record = await hub_of(request).store.get(pkgs.KIND, package_id)
    except NotFound:
        record = None
    package = PackageRecord.from_value(record.value) if record is not None else None
    if record is None or package is None or not package.visible_to(claims):
        raise NotFound(f"VNF package {package_id} does not exist")
    return record, package


def view(request: web.Request, package: PackageRecord) -> dict[str, Any]:
    """A package as SOL005 shows it (checksum algorithms as SOL005 spells them, ``_links``)."""
    value = {k: v for k, v in package.to_value().items() if not k.startswith("_")}
    if package.checksum:
        value["checksum"] = pkgs.sol005_checksum(package.checksum)
    value["softwareImages"] = [
        {**image, "checksum": pkgs.sol005_checksum(image["checksum"])}
        for image in package.software_images
    ]
    path = f"{BASE}/{package.id}"
    value["_links"] = sol013.links(
        request, self=path, vnfd=f"{path}/vnfd", packageContent=f"{path}/package_content"
    )
    return value


async def list_packages(request: web.Request) -> web.Response:
    claims = claims_of(request)
    query = LISTING.parse(request)
    views: dict[str, dict[str, Any]] = {}

    def wanted(record: Record) -> bool:
        package = PackageRecord.from_value(record.value)
        if not package.visible_to(claims):
            return False
        views[record.key] = view(request, package)
        return query.matches(views[record.key])

    # a project's own, read by the store's filter (not every project's, then dropped)
    mine = {} if claims.system else {"project_id": claims.project_id}
    page = await records.visible_page(
        hub_of(request).store, pkgs.KIND, query.limit, query.marker, wanted, mine
    )
    return LISTING.reply(request, [views[r.key] for r in page.items], page.next_marker, query)


async def create_package(request: web.Request) -> web.Response:
    claims = claims_of(request)
    body = await read_body(request, PACKAGE_CREATE)
    if claims.project is None or claims.project_id is None:
        raise InvalidInput("VNF packages belong to a project: use a project-scoped token")
    hub = hub_of(request)
    await check_room(hub.store, pkgs.KIND, claims.project_id, hub.settings.vnf_package_limit,
                     "VNF packages", "vnf_package_limit")  # fmt: skip
    package_id = ids.hub_id()
    value = pkgs.new_package(
        package_id,
        claims.project,
        claims.project_id,
        body.get("userDefinedData", {}),
        now_iso(request),
    )
    record = await records.create(hub.store, pkgs.KIND, package_id, value)
    shown = view(request, PackageRecord.from_value(record.value))
    response = reply(shown, 201, record.revision)
    response.headers["Location"] = shown["_links"]["self"]["href"]
    return response


async def show_package(request: web.Request) -> web.Response:
    record, package = await _visible(request)
    return reply(view(request, package), revision=record.revision)


async def modify_package(request: web.Request) -> web.Response:
    record, package = await _visible(request)
    body = await sol013.read_merge_patch(request, PACKAGE_MODIFY)
    expected = if_match(request)
    if expected is not None and expected != record.revision:
        raise StaleRevision(
            f"VNF package {record.key} is at revision {record.revision}, not {expected}: "
            "read it again and retry"
        )
    if "operationalState" in body:
        package.check_state_change(body["operationalState"])
        package = replace(package, operational_state=body["operationalState"])
    if "userDefinedData" in body:
        merged = sol013.merge_patch(package.user_defined_data, body["userDefinedData"])
        package = replace(package, user_defined_data=_bounded_user_data(request, merged))
    package = replace(package, updated_at=now_iso(request))
    store = hub_of(request).store
    saved = await store.put(
        pkgs.KIND, record.key, package.to_value(), expect_revision=record.revision
    )
    return reply(body, revision=saved.revision)  # SOL005: the modifications


def _bounded_user_data(request: web.Request, merged: dict[str, Any]) -> dict[str, Any]:
    """``userDefinedData`` after a merge patch, held to what a create could set (USER_DATA's
    entries, ``max_body_bytes``): a bound on each patch alone would let the record grow by
    that much with every request."""
    where = "body.userDefinedData"
    problems: list[Problem] = []
    check(USER_DATA, merged, where, problems)
    limit = hub_of(request).settings.max_body_bytes
    size = len(jsonencode.dumps(merged))
    if size > limit:
        problems.append(Problem(where, f"would be {size} bytes, over this hub's limit of "
                                       f"{limit} (setting max_body_bytes)"))  # fmt: skip
    if problems:
        raise InvalidInput(
            "the package's userDefinedData, with this patch merged in, would be more than a "
            "package may hold (remove entries with null)",
            problems,
        )
    return merged


async def delete_package(request: web.Request) -> web.Response:
    record, package = await _visible(request)
    package.check_deletable()
    store = hub_of(request).store
    await records.remove(store, pkgs.KIND, record.key, if_match(request) or record.revision)
    await _remove_images(request, f"vnf_package:{record.key}")
    _onboarding(request).files.remove(record.key)
    return no_content()


async def forget_project(app: web.Application, project_id: str) -> None:
    """A deleted project's packages go, whatever their state (their carried images are the
    project's private images, which go with the project too)."""
    store = app[HUB].store
    for record in await list_all(store, pkgs.KIND, {"project_id": project_id}):
        with contextlib.suppress(NotFound):
            await store.delete(pkgs.KIND, record.key)
        app[ONBOARDING].files.remove(record.key)


async def _remove_images(request: web.Request, source: str) -> None:
    """Catalog images registered from the package's own image files go with it."""
    store = hub_of(request).store
    marker: str | None = None
    while True:
        page = await records.visible_page(
            store, pkgs.IMAGE_KIND, 1000, marker, lambda r: Image.of(r).source == source
        )
        for image in page.items:
            with contextlib.suppress(NotFound):
                await store.delete(pkgs.IMAGE_KIND, image.key)
        if page.next_marker is None:
            return
        marker = page.next_marker


def _image_map(request: web.Request) -> dict[str, str]:
    """``?image_map=NODE=IMAGE`` (repeatable), checked as the OpenAPI document states."""
    entries = request.query.getall("image_map", [])
    problems: list[Problem] = []
    check(IMAGE_MAP, entries, "query.image_map", problems)
    out: dict[str, str] = {}
    for entry in entries if not problems else []:
        node, _, image = entry.partition("=")
        if node in out:
            problems.append(Problem("query.image_map", f"{node} is mapped twice"))
        out[node] = image
    if problems:
        raise InvalidInput("the image map is not valid", problems)
    return out


async def upload_content(request: web.Request) -> web.Response:
    record, package = await _visible(request)
    package.check_uploadable()
    if request.content_type not in ZIP_TYPES:
        raise UnsupportedMediaType(
            f"upload the package as Content-Type application/zip, not "
            f"{request.content_type or 'nothing'}"
        )
    _image_map(request)  # checked before the body is read
    limit = hub_of(request).settings.max_vnf_package_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(
            f"the VNF package ({request.content_length} bytes) is over this hub's limit of "
            f"{limit} bytes (setting max_vnf_package_bytes)"
        )
    blocks = request_blocks(request, _idle(request))
    await _take_content(request, record, package, blocks, request.content_length)
    return web.Response(status=202)


async def upload_from_uri(request: web.Request) -> web.Response:
    record, package = await _visible(request)
    package.check_uploadable()
    body = await read_body(request, UPLOAD_FROM_URI)
    settings = hub_of(request).settings
    url = allowed_uri(body["addressInformation"], settings.vnf_package_uri_hosts)
    blocks = uri_blocks(url, body.get("userName"), body.get("password"), _idle(request))
    await _take_content(request, record, package, blocks, None)
    return web.Response(status=202)


def _idle(request: web.Request) -> float:
    return hub_of(request).settings.upload_idle_timeout


async def _take_content(
    request: web.Request,
    record: Record,
    package: PackageRecord,
    blocks: AsyncIterator[bytes],
    declared: int | None,
) -> None:
    """Store a package's content from ``blocks`` (``declared`` bytes, if the client says)
    and start onboarding it; the package is PROCESSING meanwhile, and back as it was if the
    content does not arrive whole or would take its project past its room (checked before
    anything changes when the size is declared, else as the bytes arrive)."""
    image_map = _image_map(request)
    limit = hub_of(request).settings.max_vnf_package_bytes
    store = hub_of(request).store
    before = {
        "onboardingState": package.onboarding_state,
        "onboardingFailureDetails": package.onboarding_failure_details,
    }
    claim = replace(
        package,
        onboarding_state=pkgs.PROCESSING,
        onboarding_failure_details=None,
        image_map=image_map,
        updated_at=now_iso(request),
    )
    onboarding = _onboarding(request)
    async with request.app[QUOTA].upload(package.project_id, declared) as upload:
        await store.put(pkgs.KIND, record.key, claim.to_value(), expect_revision=record.revision)
        try:
            stored = await onboarding.files.receive(record.key, upload.count(blocks), limit)
        except BaseException:
            await update_package(store, record.key, before, now_iso(request))
            raise
        checksum = {"algorithm": "SHA-256", "hash": stored.sha256}
        await update_package(
            store, record.key, {"checksum": checksum, "size": stored.size}, now_iso(request)
        )
        upload.kept(replaces=package.size or 0)  # content uploaded after ERROR replaces its own
    onboarding.start(record.key, image_map, claim.project_id)


async def _onboarded_file(request: web.Request, what: str) -> tuple[PackageRecord, PackageFiles]:
    _, package = await _visible(request)
    if package.onboarding_state != pkgs.ONBOARDED:
        raise Conflict(
            f"VNF package {package.id} is {package.onboarding_state}: its {what} is there "
            "once it is ONBOARDED"
        )
    return package, _onboarding(request).files


async def show_content(request: web.Request) -> web.StreamResponse:
    package, files = await _onboarded_file(request, "content")
    path = files.content(package.id)
    if not path.exists():
        raise missing_here(package.id)
    return web.FileResponse(path, headers={"Content-Type": "application/zip"})


def _accepts(request: web.Request) -> tuple[bool, bool]:
    """Whether the caller takes text/plain and application/zip (SOL005 VNFD negotiation)."""
    header = request.headers.get("Accept", "*/*")
    types = {part.split(";", 1)[0].strip().lower() for part in header.split(",")}
    anything = bool(types & {"*/*", ""})
    text = anything or bool(types & {"text/plain", "text/*"})
    archive = anything or bool(types & {"application/zip", "application/*"})
    return text, archive


async def show_vnfd(request: web.Request) -> web.StreamResponse:
    package, files = await _onboarded_file(request, "VNFD")
    path = files.vnfd(package.id)
    if not path.exists():
        raise missing_here(package.id)
    single = len(package.vnfd_files) == 1
    text, archive = _accepts(request)
    if text and single:
        data = await asyncio.to_thread(read_single_vnfd, path)
        return web.Response(body=data, content_type="text/plain", charset="utf-8")
    if archive:
        return web.FileResponse(path, headers={"Content-Type": "application/zip"})
    if text:
        raise NotAcceptable(
            f"the VNFD of package {package.id} is several files: accept application/zip"
        )
    raise NotAcceptable("the VNFD is served as text/plain (one file) or application/zip")


def _artifact_paths(package: PackageRecord) -> set[str]:
    """What ``GET .../artifacts/{path}`` serves: the additional artifacts, carried images."""
    paths = {a["artifactPath"] for a in package.additional_artifacts}
    images = package.software_images
    return paths | {i["imagePath"] for i in images if i.get("carried") and i.get("imagePath")}


async def show_artifact(request: web.Request) -> web.StreamResponse:
    package, files = await _onboarded_file(request, "artifacts")
    wanted = request.match_info["artifactPath"]
    if wanted not in _artifact_paths(package):
        shown = wanted if len(wanted) <= 80 else wanted[:77] + "..."
        raise NotFound(
            f"VNF package {package.id} has no artifact {shown!r} (see its additionalArtifacts)"
        )
    path = await asyncio.to_thread(files.csar, package.id)
    if not path.exists():
        raise missing_here(package.id)
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    response.content_length = await asyncio.to_thread(entry_size, path, wanted)
    chunks = entry_chunks(path, wanted)
    try:
        await response.prepare(request)
        while chunk := await asyncio.to_thread(next, chunks, b""):
            await response.write(chunk)
        await response.write_eof()
    finally:
        await asyncio.to_thread(chunks.close)
    return response


ROUTES = [
    Route(
        "GET",
        BASE,
        "vnf_packages.list",
        list_packages,
        "List the VNF packages of your project",
        description="A bare array; the next page is at the Link rel=next URI. filter= "
        "takes SOL013 attribute filters on any attribute (onboardingState, vnfProvider, "
        "userDefinedData/key...); the complex attributes (" + ", ".join(COMPLEX) + ") are "
        "left out unless all_fields, fields or exclude_fields asks for them.",
        response=LISTING.response(),
        query=LISTING.query(),
    ),
    Route(
        "POST",
        BASE,
        "vnf_packages.create",
        create_package,
        "Create a VNF package (CREATED; upload its content next)",
        description="Needs a project-scoped token: the package belongs to that project.",
        body=PACKAGE_CREATE,
        response=PACKAGE,
        status=201,
        etag=True,
    ),
    Route(
        "GET",
        ITEM,
        "vnf_packages.show",
        show_package,
        "Show a VNF package",
        response=PACKAGE,
        path_params=PATH,
        etag=True,
    ),
    Route(
        "PATCH",
        ITEM,
        "vnf_packages.update",
        modify_package,
        "Enable or disable a VNF package, or change its user-defined data",
        description="A JSON merge patch (application/merge-patch+json). operationalState "
        "ENABLED needs an ONBOARDED package (else 409). userDefinedData is merged (a null "
        "value removes the key). Answers the modifications (SOL005).",
        body=PACKAGE_MODIFY,
        response=PACKAGE_MODIFY,
        path_params=PATH,
        etag=True,
    ),
    Route(
        "DELETE",
        ITEM,
        "vnf_packages.delete",
        delete_package,
        "Delete a VNF package (DISABLED and NOT_IN_USE only, else 409)",
        description="Also removes the catalog images registered from the package's own "
        "image files.",
        status=204,
        path_params=PATH,
        etag=True,
    ),
    Route(
        "PUT",
        ITEM + "/package_content",
        "vnf_packages.upload",
        upload_content,
        "Upload the package's CSAR (zip), streamed; onboarding then runs (202)",
        description="The body is the CSAR, or a zip delivering a signed CSAR (SOL004 "
        "security option 2: NAME.csar, its CMS signature NAME.cms and certificate NAME.cert, "
        "nothing else). Only a CREATED (or ERROR) package takes content (else 409). The body is "
        "streamed to the hub's data directory; past max_vnf_package_bytes it is refused with "
        "413, after upload_idle_timeout seconds without data with 408 (the package stays "
        "CREATED, nothing kept). A project's packages hold at most [hub] "
        "vnf_package_bytes_limit bytes of content: an upload whose Content-Length would pass "
        "it is refused with 403 over_limit before it is read, one that passes it while it "
        "streams is cut there (403; the package as it was); more than [hub] "
        "vnf_package_uploads_per_project uploads (and fetches from a URI) of a project at "
        "once is a 429 with Retry-After (the package as it was). "
        "image_map=NODE=IMAGE (repeatable) maps a VDU or storage "
        "to a catalog image (id or name) when the package does not carry its image. Poll "
        "the package until onboardingState is ONBOARDED or ERROR.",
        status=202,
        path_params=PATH,
        query={"image_map": IMAGE_MAP},
        raw_body=("application/zip", "application/octet-stream"),
    ),
    Route(
        "POST",
        ITEM + "/package_content/upload_from_uri",
        "vnf_packages.upload_from_uri",
        upload_from_uri,
        "Have the hub fetch the package's CSAR from a URI; onboarding then runs (202)",
        description="Only from the hosts the hub's vnf_package_uri_hosts setting names "
        "(else 403), http or https, no redirects followed; userName/password are sent as "
        "HTTP basic authentication. The fetch happens before the answer (a URI that cannot "
        "be read is a 400 naming why); then poll the package as after an upload. It counts "
        "against [hub] vnf_package_bytes_limit and vnf_package_uploads_per_project as an "
        "upload does (403, 429). "
        "image_map=NODE=IMAGE as for the upload.",
        body=UPLOAD_FROM_URI,
        status=202,
        path_params=PATH,
        query={"image_map": IMAGE_MAP},
    ),
    Route(
        "GET",
        ITEM + "/package_content",
        "vnf_packages.content",
        show_content,
        "Download the package's content as uploaded (ONBOARDED packages; else 409)",
        description="The CSAR, or the zip that delivered it with its signature (SOL004 "
        "security option 2).",
        path_params=PATH,
        raw_response=("application/zip",),
    ),
    Route(
        "GET",
        ITEM + "/vnfd",
        "vnf_packages.vnfd",
        show_vnfd,
        "The VNFD: text/plain when it is one file, else a zip of its files",
        description="Accept: text/plain (one-file VNFDs only, else 406), application/zip, "
        "or both/any (the hub picks text/plain for a one-file VNFD).",
        path_params=PATH,
        raw_response=("application/zip", "text/plain"),
    ),
    Route(
        "GET",
        ITEM + "/artifacts/{artifactPath:.+}",
        "vnf_packages.artifact",
        show_artifact,
        "One of the package's additionalArtifacts (or a carried image), as stored",
        description="artifactPath is the path inside the package (slashes as they are). "
        "ONBOARDED packages only (else 409).",
        path_params={**PATH, "artifactPath": ARTIFACT_PATH},
        raw_response=("application/octet-stream",),
    ),
]
