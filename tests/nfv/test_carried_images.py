"""A software image the package carries has the checksum its VNFD declares, or the package is
refused naming the VDU, the file, the declared and the real digest; a declaration that
cannot be checked refuses it too. Each file is read once, whoever claims its hash."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import IO

import pytest

from atoll.errors import InvalidInput
from atoll.nfv.artifacts import image_needs
from atoll.nfv.csar import open_package
from atoll.nfv.digests import Claim, check_claims, hash_files, wanted_by
from atoll.nfv.errors import ProblemLog
from atoll.nfv.package import load_package
from tests.nfv.packages import (
    GETTING_STARTED_DF,
    IMAGE,
    PACKAGES,
    carrying,
    copy_package,
    to_zip,
    zip_dir,
)

CHECKSUM_AT = (
    f"{GETTING_STARTED_DF}:72: "
    "topology_template.node_templates.VDU1.properties.sw_image_data.checksum"
)
SUBJECT = f"VDU1: image 'Software of VDU1', carried as {IMAGE}"
BITS = b"QFI\xfb the image the vendor built"


def problems(source: Path | bytes) -> list[str]:
    with pytest.raises(InvalidInput) as refused:
        load_package(source)
    assert refused.value.summary == "the VNF package is invalid"
    return [str(p) for p in refused.value.problems]


def declared(files: dict[str, bytes], algorithm: str, digest: str) -> dict[str, bytes]:
    """``files`` (:func:`carrying`) with VDU1's image checksum declared as given."""
    text = files[GETTING_STARTED_DF].decode()
    text = text.replace("algorithm: sha-512", f"algorithm: {algorithm}", 1)
    text = text.replace(hashlib.sha512(files[IMAGE]).hexdigest(), digest, 1)
    return {**files, GETTING_STARTED_DF: text.encode()}


def test_a_carried_image_with_the_declared_checksum_is_verified() -> None:
    package = load_package(to_zip(carrying(BITS)))
    assert IMAGE in package.verified_files
    (need,) = image_needs(package)
    assert need.carried and need.image.checksum.where == CHECKSUM_AT
    assert package.digests[IMAGE].hexdigests == {"sha512": hashlib.sha512(BITS).hexdigest()}
    assert package.digests[IMAGE].size == len(BITS)


def test_other_bytes_than_the_declared_ones_are_refused_naming_vdu_file_and_digests() -> None:
    planted = b"QFI\xfb a backdoored image"
    files = {**carrying(BITS), IMAGE: planted}
    assert problems(to_zip(files)) == [
        f"{CHECKSUM_AT}: {SUBJECT}: SHA-512 mismatch: the VNFD declares "
        f"{hashlib.sha512(BITS).hexdigest()}, file has {hashlib.sha512(planted).hexdigest()}"
    ]


@pytest.mark.parametrize("algorithm", ["sha-256", "SHA-256", "sha256", "SHA-384", "sha-512"])
def test_each_sol004_algorithm_is_checked_however_spelled(algorithm: str) -> None:
    name = algorithm.lower().replace("-", "")
    right = hashlib.new(name, BITS).hexdigest()
    package = load_package(to_zip(declared(carrying(BITS), algorithm, right)))
    assert IMAGE in package.verified_files
    wrong = hashlib.new(name, b"other bits").hexdigest()
    (problem,) = problems(to_zip(declared(carrying(BITS), algorithm, wrong.upper())))
    assert problem.startswith(f"{CHECKSUM_AT}: {SUBJECT}: {name.upper().replace('SHA', 'SHA-')}")
    assert problem.endswith(f"declares {wrong}, file has {right}")


@pytest.mark.parametrize(
    ("algorithm", "digest", "why"),
    [
        ("md5", hashlib.md5(BITS).hexdigest(), "hash algorithm 'md5' is not SHA-256, SHA-384"),  # noqa: S324
        ("sha-1", hashlib.sha1(BITS).hexdigest(), "hash algorithm 'sha-1' is not SHA-256"),  # noqa: S324
        ("sha-512", "''", "the VNFD declares no checksum for it"),
        ("sha-512", "'  '", "the VNFD declares no checksum for it"),
        ("sha-512", "abc123", "hash 'abc123' is not a SHA-512 hex digest"),
        ("sha-256", hashlib.sha512(BITS).hexdigest(), "is not a SHA-256 hex digest"),
    ],
)
def test_a_declaration_that_cannot_be_checked_refuses_a_carried_image(
    algorithm: str, digest: str, why: str
) -> None:
    (problem,) = problems(to_zip(declared(carrying(BITS), algorithm, digest)))
    assert problem.startswith(f"{CHECKSUM_AT}: {SUBJECT}: "), problem
    assert why in problem, problem


def test_an_image_the_package_does_not_carry_is_not_checked_here() -> None:
    """It is bound by checksum to a catalog image at the hub (test_image_substitution)."""
    for name in ("getting-started", "helloworld3-vnflcm1", "free5gc"):
        package = load_package(zip_dir(PACKAGES / name))
        assert all(not need.carried for need in image_needs(package))
        assert not package.digests
    odd = declared(carrying(BITS), "md5", "x")
    del odd[IMAGE]  # no bits in the package: nothing to check them against
    assert not image_needs(load_package(to_zip(odd)))[0].carried


def test_two_nodes_sharing_one_carried_file_are_each_checked_and_it_is_read_once(
    tmp_path: Path,
) -> None:
    root = copy_package("helloworld3-functional", tmp_path)
    df = root / "Definitions/helloworld3_df_simple.yaml"
    cirros = "932fcae93574e242dc3d772d5235061747dfe537668443a1f0567d893614b464"
    text = df.read_text().replace(
        "          size: 12 GB\n",
        "          size: 12 GB\n      artifacts:\n        sw_image: ../Files/images/shared.img\n",
    )
    df.write_text(text.replace(cirros, hashlib.sha256(BITS).hexdigest(), 1))  # VDU2's only
    (root / "Files/images").mkdir(parents=True)
    (root / "Files/images/shared.img").write_bytes(BITS)
    (problem,) = problems(root)
    assert "node_templates.VirtualStorage.properties.sw_image_data.checksum: VirtualStorage:" in (
        problem
    )
    assert problem.endswith(f"declares {cirros}, file has {hashlib.sha256(BITS).hexdigest()}")

    df.write_text(df.read_text().replace(cirros, hashlib.sha256(BITS).hexdigest()))
    package = load_package(root, image_digests=("sha256", "sha512"))
    assert [n.carried for n in image_needs(package)] == [True, True]
    assert package.verified_files == ("Files/images/shared.img",)
    assert dict(package.digests["Files/images/shared.img"].hexdigests) == {
        "sha256": hashlib.sha256(BITS).hexdigest(),
        "sha512": hashlib.sha512(BITS).hexdigest(),
    }


def manifest(files: dict[str, bytes], wrong: str | None = None) -> dict[str, bytes]:
    """``files`` with a SOL004 manifest listing the SHA-256 of each (``wrong`` listed for the
    file named so), named by TOSCA.meta."""
    blocks = ["metadata:\nvnf_provider_id: Company\n"]
    for name, data in files.items():
        if name != "TOSCA-Metadata/TOSCA.meta":
            digest = hashlib.sha256(b"not it" if name == wrong else data).hexdigest()
            blocks.append(f"Source: {name}\nAlgorithm: SHA-256\nHash: {digest}\n")
    meta = files["TOSCA-Metadata/TOSCA.meta"] + b"ETSI-Entry-Manifest: package.mf\n"
    return {**files, "TOSCA-Metadata/TOSCA.meta": meta, "package.mf": "\n".join(blocks).encode()}


def test_the_manifest_and_the_vnfd_are_both_checked_on_one_read_of_the_image() -> None:
    package = load_package(to_zip(manifest(carrying(BITS))), image_digests=("sha384",))
    assert IMAGE in package.verified_files and GETTING_STARTED_DF in package.verified_files
    assert set(package.digests[IMAGE].hexdigests) == {"sha256", "sha384", "sha512"}
    assert set(package.digests[GETTING_STARTED_DF].hexdigests) == {"sha256"}  # not an image

    (problem,) = problems(to_zip(manifest(carrying(BITS), wrong=IMAGE)))
    assert problem.startswith("package.mf:")
    assert problem.endswith(
        f": {IMAGE}: SHA-256 mismatch: listed {hashlib.sha256(b'not it').hexdigest()}, "
        f"file has {hashlib.sha256(BITS).hexdigest()}"
    )
    # the manifest right, the VNFD not: the VNFD's claim still refuses it
    files = manifest({**carrying(BITS), IMAGE: b"planted"})
    (problem,) = problems(to_zip(files))
    assert problem == (
        f"{CHECKSUM_AT}: {SUBJECT}: SHA-512 mismatch: the VNFD declares "
        f"{hashlib.sha512(BITS).hexdigest()}, file has {hashlib.sha512(b'planted').hexdigest()}"
    )


def test_a_carried_image_that_cannot_be_read_is_one_problem_naming_it() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in carrying(BITS * 100).items():
            archive.writestr(name, data)
    content = bytearray(buffer.getvalue())
    content[content.index(BITS) + 7] ^= 0xFF  # the entry's CRC-32 no longer matches
    (problem,) = problems(bytes(content))
    assert problem.startswith(f"{IMAGE}: cannot be read: Bad CRC-32")


class CountingFiles:
    """A package view that counts how often each file is opened."""

    def __init__(self, data: bytes) -> None:
        files = open_package(data, ProblemLog())
        assert files is not None
        self.inner = files
        self.opened: dict[str, int] = {}

    @property
    def names(self) -> frozenset[str]:
        return self.inner.names

    def size(self, name: str) -> int:
        return self.inner.size(name)

    def open(self, name: str) -> IO[bytes]:
        self.opened[name] = self.opened.get(name, 0) + 1
        return self.inner.open(name)

    def close(self) -> None:
        self.inner.close()


def test_hash_files_reads_each_file_once_for_every_claim_and_digest() -> None:
    files = CountingFiles(to_zip({"a.img": BITS, "b.txt": b"b"}))
    claims = [
        Claim("a.img", "SHA-256", hashlib.sha256(BITS).hexdigest(), "x.mf:3", "a.img"),
        Claim("a.img", "sha-512", hashlib.sha512(BITS).hexdigest(), "VDU1", "VDU1", "declares"),
        Claim("a.img", "SHA-384", "00" * 48, "x.mf:9", "a.img"),
        Claim("b.txt", "md5", "00" * 16, "x.mf:12", "b.txt"),  # cannot be checked: not read
    ]
    wanted = wanted_by(claims)
    wanted["a.img"].add("sha512")
    log = ProblemLog()
    digests = hash_files(files, wanted, log)
    assert files.opened == {"a.img": 1}
    assert check_claims(claims, digests, log) == ()  # a.img: the SHA-384 claim is wrong
    assert [str(p) for p in log.errors] == [
        f"x.mf:9: a.img: SHA-384 mismatch: listed {'00' * 48}, file has "
        f"{hashlib.sha384(BITS).hexdigest()}",
        "x.mf:12: b.txt: hash algorithm 'md5' is not SHA-256, SHA-384 or SHA-512",
    ]
    files.close()


def test_a_package_read_again_without_checking_hashes_reads_no_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lifecycle engine reads an onboarded package (checked then, never changed) to plan
    an instantiate: with check_hashes=False no file is hashed (a carried image of many GiB is
    not read once more after every restart of the hub)."""
    import atoll.nfv.package as package_module

    def no_hashing(*args: object, **kwargs: object) -> None:
        raise AssertionError("hashed a file")

    monkeypatch.setattr(package_module, "hash_files", no_hashing)
    loaded = load_package(to_zip(carrying(BITS)), check_hashes=False)
    assert loaded.verified_files == () and not loaded.digests
    assert image_needs(loaded)[0].carried
