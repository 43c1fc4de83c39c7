"""Request and response shapes of ``/vnfpkgm/v1/vnf_packages`` (SOL005 ``VnfPkgInfo``)."""

from __future__ import annotations

from atoll import ids
from atoll.api.schema import Field, Shape
from atoll.hub.catalog import vnf_packages as pkgs

PACKAGE_ID = Field(
    "string",
    required=True,
    description="the package id (32 hex digits; older packages keep a dashed UUID)",
    pattern=ids.PATTERN,
    pattern_help=ids.HELP,
)
PATH = {"vnfPkgId": PACKAGE_ID}

USER_DATA = Field(
    "object",
    description="free-form key/value pairs (SOL005 userDefinedData)",
    max_properties=64,
)
OPERATIONAL = Field("string", enum=(pkgs.ENABLED, pkgs.DISABLED))

PROBLEM = Shape(
    "Problem",
    {"where": Field("string", required=True), "what": Field("string", required=True)},
)
CHECKSUM = Shape(
    "Checksum",
    {
        "algorithm": Field("string", required=True, description="SHA-256, SHA-512..."),
        "hash": Field("string", required=True, description="lowercase hex"),
    },
)
LINK = Shape("Link", {"href": Field("string", required=True, description="an absolute URI")})
LINKS = Shape(
    "VnfPkgInfoLinks",
    {
        "self": Field("object", required=True, shape=LINK),
        "vnfd": Field("object", required=True, shape=LINK),
        "packageContent": Field("object", required=True, shape=LINK),
    },
)
ARTIFACT = Shape(
    "VnfPackageArtifactInfo",
    {
        "artifactPath": Field("string", required=True, description="inside the package"),
        "checksum": Field("object", required=True, shape=CHECKSUM),
        "metadata": Field("object"),
    },
)
SOFTWARE_IMAGE = Shape(
    "VnfPackageSoftwareImageInfo",
    {
        "id": Field("string", required=True, description="the VDU or storage node"),
        "flavourId": Field("string", required=True),
        "name": Field("string", required=True),
        "provider": Field("string", required=True),
        "version": Field("string", required=True),
        "checksum": Field("object", required=True, shape=CHECKSUM),
        "containerFormat": Field("string", required=True),
        "diskFormat": Field("string", required=True),
        "minDisk": Field("integer", required=True, description="GiB"),
        "minRam": Field("integer", required=True, description="MiB"),
        "size": Field("integer", required=True, description="bytes"),
        "imagePath": Field("string", required=True, description="inside the package, if any"),
        "carried": Field("boolean", required=True, description="the package has the file"),
        "catalogImage": Field("string", required=True, description="the catalog image id"),
    },
)


def _text(description: str) -> Field:
    return Field("string", required=True, nullable=True, description=description)


SIGNED = Shape(
    "VnfPkgSignedFile",
    {
        "kind": Field("string", required=True, enum=("csar", "manifest", "artifact")),
        "path": Field(
            "string",
            required=True,
            description="the signed file: in the package (manifest, artifact), or the CSAR's "
            "name in the zip that delivered it",
        ),
        "signer": Field("string", required=True, description="the signer's subject (RFC 4514)"),
        "issuer": Field("string", required=True, description="its issuer (RFC 4514)"),
        "notAfter": Field("string", required=True, description="its certificate's end"),
    },
)
SIGNATURE = Shape(
    "VnfPkgSignature",
    {
        "options": Field(
            "array",
            required=True,
            items=Field("string", enum=(pkgs.OPTION_1, pkgs.OPTION_2)),
            description="the SOL004 security options whose signature verified: OPTION_1, the "
            "manifest's; OPTION_2, the CSAR's (in a zip with it)",
        ),
        "signer": _text(
            "the package's signer (RFC 4514): the CSAR's, else the manifest's; null when only "
            "artifacts are signed"
        ),
        "issuer": _text("its issuer (RFC 4514)"),
        "notAfter": _text("its certificate's end"),
        "manifest": _text("the manifest whose signature verified"),
        "csar": _text("the CSAR whose signature verified, as the zip that delivered it names it"),
        "signatures": Field(
            "array",
            required=True,
            items=Field("object", shape=SIGNED),
            description="every signature that verified, signed artifacts' (SOL004 5.3) too",
        ),
    },
)
FAILURE = Shape(
    "OnboardingFailureDetails",
    {
        "title": Field("string", required=True),
        "status": Field("integer", required=True),
        "detail": Field("string", required=True),
        "problems": Field("array", required=True, items=Field("object", shape=PROBLEM)),
    },
)


PACKAGE = Shape(
    "VnfPkgInfo",
    {
        "id": Field("string", required=True),
        "project": Field("string", required=True),
        "project_id": Field("string", required=True, description="the owning project's id"),
        "onboardingState": Field("string", required=True, enum=pkgs.ONBOARDING_STATES),
        "operationalState": Field("string", required=True, enum=(pkgs.ENABLED, pkgs.DISABLED)),
        "usageState": Field("string", required=True, enum=(pkgs.IN_USE, pkgs.NOT_IN_USE)),
        "userDefinedData": Field("object", required=True),
        "vnfdId": _text("descriptor_id of the VNFD (once onboarded)"),
        "vnfProvider": _text("provider"),
        "vnfProductName": _text("product_name"),
        "vnfSoftwareVersion": _text("software_version"),
        "vnfdVersion": _text("descriptor_version"),
        "checksum": Field("object", required=True, nullable=True, shape=CHECKSUM),
        "size": Field("integer", required=True, nullable=True, description="CSAR bytes"),
        "softwareImages": Field(
            "array", required=True, items=Field("object", shape=SOFTWARE_IMAGE)
        ),
        "flavours": Field("array", required=True, items=Field("object"), description="summaries"),
        "additionalArtifacts": Field(
            "array",
            required=True,
            items=Field("object", shape=ARTIFACT),
            description="the package's files that are not software images nor its VNFD",
        ),
        "warnings": Field("array", required=True, items=Field("object", shape=PROBLEM)),
        "signature": Field(
            "object",
            required=True,
            nullable=True,
            shape=SIGNATURE,
            description="the package's CMS signatures verified at onboarding (SOL004); null: "
            "unsigned, or not checked ([hub] vnf_package_signature = off)",
        ),
        "packageSecurityOption": Field(
            "string",
            required=True,
            nullable=True,
            enum=(pkgs.OPTION_1, pkgs.OPTION_2),
            description="SOL005's: OPTION_2 when the CSAR's signature verified (it came in a "
            "zip with it), else OPTION_1 when the manifest's did; null: neither",
        ),
        "onboardingFailureDetails": Field("object", required=True, nullable=True, shape=FAILURE),
        "createdAt": Field("string", required=True),
        "updatedAt": Field("string", required=True),
        "_links": Field("object", required=True, shape=LINKS),
    },
)
# SOL005 9.4.2.3.2: left out of lists unless asked for (with Atoll's own complex attributes)
COMPLEX = (
    "softwareImages",
    "additionalArtifacts",
    "onboardingFailureDetails",
    "userDefinedData",
    "checksum",
    "flavours",
    "warnings",
    "signature",
)
PACKAGE_CREATE = Shape("CreateVnfPkgInfoRequest", {"userDefinedData": USER_DATA})
PACKAGE_MODIFY = Shape(
    "VnfPkgInfoModifications",
    {"operationalState": OPERATIONAL, "userDefinedData": USER_DATA},
)
ARTIFACT_PATH = Field(
    "string",
    required=True,
    description="a path inside the package, as additionalArtifacts names it",
    max_length=1024,
)
UPLOAD_FROM_URI = Shape(
    "UploadVnfPkgFromUriRequest",
    {
        "addressInformation": Field(
            "string", required=True, max_length=2048, description="an http(s) URI"
        ),
        "authType": Field(
            "array",
            items=Field("string", enum=("BASIC",)),
            max_items=1,
            description="BASIC with userName and password, or nothing",
        ),
        "userName": Field("string", max_length=255),
        "password": Field("string", max_length=255),
    },
)
IMAGE_MAP = Field(
    "array",
    items=Field(
        "string",
        pattern=r"^[A-Za-z0-9_.-]{1,64}=[A-Za-z0-9_.:+ -]{1,64}$",
        pattern_help="NODE=IMAGE (a VDU or storage id, then a catalog image id or name)",
    ),
    max_items=16,
    description="NODE=IMAGE, repeatable (up to 16): the catalog image (id, or a name of "
    "letters, digits, spaces and _.:+-) for a VDU or storage whose image the package does "
    "not carry",
)
