"""The packaging metadata stays true to the tree: wheels carry every package, and the import
contracts cover every core module (so a new module cannot slip past them)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _packages_on_disk() -> set[str]:
    mapping = PYPROJECT["tool"]["setuptools"]["package-dir"]
    found = set()
    for name, folder in mapping.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base).parts
            if name == "atoll" and rel:
                continue  # atoll/ holds no subpackages; components are mapped folders
            found.add(".".join((name, *rel)))
    return found


def test_every_package_is_listed_for_wheels() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    missing = sorted(_packages_on_disk() - listed)
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_core_contract_covers_every_core_module() -> None:
    contracts = PYPROJECT["tool"]["importlinter"]["contracts"]
    core = next(c for c in contracts if c["name"] == "the atoll core imports no component")
    modules = {f"atoll.{p.stem}" for p in (ROOT / "atoll").glob("*.py") if p.stem != "__init__"}
    modules |= {f"atoll.{p.parent.name}" for p in (ROOT / "atoll").glob("*/__init__.py")}
    missing = sorted(modules - set(core["source_modules"]))
    assert not missing, f"add to the core import contract in pyproject.toml: {missing}"
