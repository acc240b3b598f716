"""The command line: every command is documented in the README, and user errors are one line."""
from __future__ import annotations

import argparse
import subprocess
import sys

from core.cli import build_parser, main
from core.paths import REPO_ROOT


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [prefix]
    out = []
    for name, sub in subs[0].choices.items():
        out.extend(_commands(sub, prefix + (name,)))
    return out


def test_every_command_is_documented_in_readme():
    readme = (REPO_ROOT / "README.md").read_text()
    commands = _commands(build_parser())
    assert len(commands) >= 4
    missing = [" ".join(c) for c in commands if f"python -m core {' '.join(c)}" not in readme]
    assert not missing, f"commands missing from README.md: {missing}"


def test_unknown_group_exits_2_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "core", "nonsense"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_user_error_is_one_line(capsys):
    assert main(["data", "stats", "--dataset", "no-such-dataset", "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no-such-dataset" in err and "\n" not in err
