"""Options generated from a settings dataclass: flags, types, booleans, preset-decided defaults."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.cli_options import add_dataclass_options, dataclass_values


@dataclass
class Demo:
    path: Path = field(metadata={"help": "input file"})
    steps: int = field(default=10, metadata={"help": "how many steps"})
    rate: float | None = field(default=None, metadata={"help": "a rate"})
    year: int | None = field(default=None, metadata={"help": "a year"})
    mode: str = field(default="a", metadata={"help": "the mode", "choices": ("a", "b")})
    source: str = field(default="x", metadata={"help": "where from", "flag": "--from"})
    fast: bool = field(default=False, metadata={"help": "go fast"})
    check: bool = field(default=True, metadata={"help": "check things"})


def parse(argv, **options):
    parser = argparse.ArgumentParser()
    add_dataclass_options(parser, Demo, **options)
    return parser, parser.parse_args(argv)


def test_every_field_becomes_an_option_of_its_type():
    parser, args = parse(["--path", "f.txt", "--year", "1999", "--rate", "0.5", "--mode", "b", "--from", "y",
                          "--fast", "--no-check"])
    assert dataclass_values(args, Demo) == {"path": Path("f.txt"), "steps": 10, "rate": 0.5, "year": 1999, "mode": "b",
                                            "source": "y", "fast": True, "check": False}
    assert Demo(**dataclass_values(args, Demo)).year == 1999
    helps = parser.format_help()
    assert "how many steps (default: 10)" in helps and "turn off: check things" in helps
    with pytest.raises(SystemExit):
        parser.parse_args(["--mode", "c"])  # choices come from the metadata


def test_none_defaults_let_the_caller_see_what_was_given():
    _, args = parse(["--steps", "3"], none_defaults=True, default_note="(default: preset's, else {default})")
    assert dataclass_values(args, Demo, given_only=True) == {"steps": 3}
    assert dataclass_values(args, Demo, skip=("path",))["check"] is None


def test_custom_keywords_override_one_field():
    _, args = parse(["--keep", "--steps", "4"], skip=("path",),
                    custom={"check": {"flag": "--keep", "action": "store_const", "const": False, "help": "keep"}})
    assert args.check is False and args.steps == 4 and not hasattr(args, "path")
