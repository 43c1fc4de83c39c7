from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

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


def test_a_group_command_loads_only_its_own_cli() -> None:
    """``atoll site-agent run`` is a long-lived daemon: it must not hold every other
    component's CLI modules in memory; a command outside a package-named group still sees
    the whole tree."""
    probe = (
        "import sys; from atoll.cli import build_parser; "
        "build_parser(sys.argv[1:]); "
        "print(sorted(m for m in sys.modules if m.endswith('.cli') and m != 'atoll.cli'))"
    )

    def cli_modules(*argv: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    assert cli_modules("--log-level", "DEBUG", "site-agent", "run") == ("['atoll.site_agent.cli']")
    everything = cli_modules("login")
    assert "atoll.hub.cli" in everything and "atoll.site_agent.cli" in everything


def test_no_group_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: atoll" in capsys.readouterr().out


def test_a_mistyped_command_or_subcommand_gets_did_you_mean(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv, meant in ((["projct", "list"], "'project'"), (["project", "lsit"], "'list'")):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        assert f"did you mean {meant}?" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["project", "list", "--collumn", "name"])
    assert "--collumn (did you mean --column?)" in capsys.readouterr().err


def test_an_unknown_option_is_said_by_its_command_with_its_own_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The command's usage, not the root's; a hint from its own options, never another's
    (``project create --bogus`` was told "did you mean --user?")."""
    with pytest.raises(SystemExit) as exc:
        main(["project", "create", "a", "--bogus"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: atoll project create ")
    assert err.endswith("atoll project create: error: unrecognized arguments: --bogus\n")
    with pytest.raises(SystemExit):
        main(["project", "create", "a", "--descripton", "x"])
    err = capsys.readouterr().err
    assert "atoll project create: error: unrecognized arguments: --descripton x; " in err
    assert "--descripton (did you mean --description?)" in err


def complete(script: Path, line: str) -> list[str]:
    """What bash offers for ``line`` (the word being completed is its last, maybe empty)."""
    words = line.split(" ")
    program = (
        f"source {script}\n"
        f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        "_atoll\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    assert not done.stderr, done.stderr
    return done.stdout.split()


def test_bash_completion_walks_the_command_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "atoll.bash"
    script.write_text(capsys.readouterr().out)
    assert "project" in complete(script, "atoll proj")
    assert complete(script, "atoll project li") == ["list"]
    assert complete(script, "atoll --debug project list -") >= ["-c", "-f"]
    assert complete(script, "atoll project list -f y") == ["yaml"]
    assert complete(script, "atoll project list -f json -c name --max") == ["--max-width"]
    assert complete(script, "atoll --log-format j") == ["json"]
    (tmp_path / "disk.qcow2").write_bytes(b"")
    assert complete(script, f"atoll image upload {tmp_path}/di") == [f"{tmp_path}/disk.qcow2"]


def test_zsh_completion_holds_the_same_tree(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "zsh"]) == 0
    script = capsys.readouterr().out
    assert script.startswith("#compdef atoll")
    assert "compdef _atoll atoll" in script
    assert "  'atoll project list' '" in script and "'atoll project list -f' 'table json" in script
