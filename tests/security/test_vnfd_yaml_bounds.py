"""A VNFD's YAML is bounded as a whole, not only file by file.

Each definitions file of a package is held to ``YamlLimits`` (8 MiB, 500,000 nodes: far
above any real VNFD) before a Python object is built. A VNFD may import other files of its
package, though, and each one within those limits made the hub hold every parsed file at
once: files of repetitive YAML deflate about 500:1, so a 95 KB upload of six of them took
~900 MB of the hub's memory and 40 s of its CPU, and a hundred would run it out of memory.
The files of one package now share one budget (``max_total_bytes``, ``max_total_nodes``):
the file that would cross it is refused (422 naming it) before it is built.
"""

from __future__ import annotations

import pytest

from tests.nfv.packages import carrying, to_zip
from tests.security.daemons import RunningHub
from tests.security.test_image_substitution import onboard
from tests.security.test_vnf_package_zip import no_internal_error

TOP = "Definitions/sample_vnfd_top.yaml"


def importing(extra: int, line: bytes, lines: int) -> bytes:
    """getting-started whose top file imports ``extra`` more files, each ``lines`` times
    ``line`` (a sequence item) of YAML filler."""
    files = carrying(b"QFI\xfb image bits")
    anchor = "  - sample_vnfd_df_simple.yaml\n"
    imports = "".join(f"  - bulk{i}.yaml\n" for i in range(extra))
    files[TOP] = files[TOP].decode().replace(anchor, anchor + imports).encode()
    filler = b"tosca_definitions_version: tosca_simple_yaml_1_2\nbulk:\n"
    filler += line * lines
    for i in range(extra):
        files[f"Definitions/bulk{i}.yaml"] = filler
    return to_zip(files)


@pytest.mark.parametrize(
    ("line", "lines", "crossed"),
    [
        # 200,000 nodes (800 KB) a file: the third crosses 500,000 nodes in all
        (b"- a\n", 200_000, "over 500000 YAML nodes in all"),
        # 3.2 MB (80,000 nodes) a file: the third crosses 8 MiB in all
        (b"- " + b"a" * 37 + b"\n", 80_000, "over 8388608 bytes in all"),
    ],
)
def test_imported_files_share_one_budget(
    hub: RunningHub, line: bytes, lines: int, crossed: str
) -> None:
    tenant = hub.tenant("yamlb", f"yamlb-{len(line)}")
    content = importing(3, line, lines)
    assert len(content) < 64 * 1024  # each file within one file's limits, deflated 500:1
    package = onboard(hub, tenant, content)
    assert package["onboardingState"] == "ERROR", package
    details = package["onboardingFailureDetails"]
    assert details["status"] == 422, details
    (problem,) = [p for p in details["problems"] if "in all" in p["what"]]
    assert problem["where"] == "Definitions/bulk2.yaml", problem
    assert crossed in problem["what"], problem
    no_internal_error(hub)
