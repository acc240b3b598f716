"""One command line for every pipeline step: `python -m core <group> <command> [options]`.

Each stage owns its commands in a `cli.py` next to its code and exposes `register(subparsers)`;
this module only wires them together, sets the shared options and turns a `SidLensError` into a
one-line `error: ...` on stderr with exit status 2 (no traceback).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

from core.errors import SidLensError
from core.provenance import git_commit

# Modules that contribute commands, in the order `--help` lists them.
COMMAND_MODULES = ["core.data.cli", "core.sid.cli", "core.corpus.cli", "core.eval.cli", "core.train.cli", "core.eval.run_cli"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="SID Lens engine: every pipeline step.")
    parser.add_argument("--data-dir", help="where datasets and artefacts are stored (default: ./data, or $SIDLENS_DATA_DIR)")
    parser.add_argument("--db", help="SQLite database path (default: <data dir>/sidlens.db, or $SIDLENS_DB)")
    groups = parser.add_subparsers(dest="group", metavar="<group>", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(groups)
    return parser


def print_json(obj) -> None:
    """Machine-readable output of `--json` commands."""
    print(json.dumps(obj, indent=1, ensure_ascii=False))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.data_dir:
        os.environ["SIDLENS_DATA_DIR"] = args.data_dir
    if args.db:
        os.environ["SIDLENS_DB"] = args.db
    git_commit()  # the code this command starts with is what its records name
    try:
        result = args.func(args)
    except SidLensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted (finished artefacts are intact; re-run the step to resume)", file=sys.stderr)
        return 130
    return int(result or 0)
