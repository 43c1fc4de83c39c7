"""``make bench``: run every ``bench/bench_*.py`` in turn; each prints JSON lines.

Run one alone with ``python bench/run.py NAME`` (e.g. ``baselines``).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    names = argv or sorted(p.stem.removeprefix("bench_") for p in ROOT.glob("bench/bench_*.py"))
    failed = 0
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        try:
            module.main()
        except Exception as exc:
            failed += 1
            print(f"bench {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
