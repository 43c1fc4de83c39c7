from __future__ import annotations

import subprocess
import sys

import pytest

from atoll import __version__
from atoll.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"atoll {__version__}"


def test_help_lists_the_registered_groups() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "atoll", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "usage: atoll" in out
    assert "testbed" in out


def test_no_group_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: atoll" in capsys.readouterr().out
