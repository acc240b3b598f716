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


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return [parser] + [p for sub in subs for child in sub.choices.values() for p in _parsers(child)]


def test_every_help_page_renders():
    """argparse %-formats help strings: a bare "95% CI" in one made `runs --help` a traceback."""
    parsers = _parsers(build_parser())
    assert len(parsers) > len(_commands(build_parser()))
    for parser in parsers:
        assert parser.format_help().startswith("usage: python -m core")


def test_unknown_group_exits_2_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "core", "nonsense"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_user_error_is_one_line(capsys):
    assert main(["data", "stats", "--dataset", "no-such-dataset", "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no-such-dataset" in err and "\n" not in err


def test_help_and_data_stats_do_not_import_torch():
    """The CLI's start stays light: torch (seconds to import) loads only in commands that compute with it."""
    from core.data.registry import prepare_dataset

    prepare_dataset("ml-100k")  # into this test's data dir, which the subprocess inherits
    probe = ("import sys\nfrom core.cli import main\n"
             "for argv in (['--help'], ['data', 'stats', '--dataset', 'ml-100k', '--json']):\n"
             "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
             "print('HEAVY', sorted(m for m in ('torch', 'transformers', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout and '"interactions": 100000' in out.stdout
