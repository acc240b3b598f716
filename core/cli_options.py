"""Command-line options generated from a settings dataclass: one helper for every CLI group.

Every configurable thing in SID Lens is a dataclass whose fields carry their help text (and, where
they apply, `choices` and a custom `flag`) in `field(metadata=...)`. `add_dataclass_options` turns
each field into an option (`--field-name`, type from the default or the annotation, a boolean
default True becomes `--no-field-name`), and `dataclass_values` reads them back, so the help a
user sees is the docstring of the setting and the CLI cannot drift from the config it builds.
Hand-written rather than transformers' HfArgumentParser: the train group needs defaults of None
(the chosen preset fills what the user did not give), which HfArgumentParser does not offer.
"""
from __future__ import annotations

import argparse
from dataclasses import MISSING, Field, fields
from pathlib import Path

TYPES = {"int": int, "float": float, "str": str, "Path": Path}


def _value_type(f: Field):
    if f.default is not MISSING and f.default is not None:
        return type(f.default)
    annotation = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "str")
    return next((t for name, t in TYPES.items() if name in annotation.replace("None", "").split(" | ")), str)


def add_dataclass_options(parser, cls, *, none_defaults: bool = False, skip: tuple[str, ...] = (),
                          custom: dict[str, dict] | None = None, default_note: str = "(default: {default})") -> None:
    """Add one option per field of `cls` to `parser` (a parser or an argument group).

    `none_defaults`: every option defaults to None, so the caller can tell what was given (a preset
    or the config's own default decides the rest). `custom[name]` overrides the generated
    `add_argument` keywords of one field (`flag` renames it). `default_note` is appended to each
    help text, formatted with the field's default (none when the default is None)."""
    custom = custom or {}
    for f in fields(cls):
        if f.name in skip:
            continue
        spec = dict(custom.get(f.name, {}))
        flag = spec.pop("flag", None) or f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        help_text = f.metadata["help"]
        if isinstance(default, bool) and "action" not in spec:
            if default:
                flag = "--no-" + flag[2:]
                help_text = f"turn off: {help_text}"
            parser.add_argument(flag, dest=f.name, action="store_false" if default else "store_true",
                                default=None if none_defaults else default, help=spec.get("help", help_text))
            continue
        note = f" {default_note.format(default=default)}" if default is not None else ""
        kwargs = {"dest": f.name, "default": None if none_defaults else default, "help": help_text + note}
        if "action" not in spec:
            kwargs["type"] = _value_type(f)
            if "choices" in f.metadata or "choices" in spec:
                kwargs["choices"] = f.metadata.get("choices")
            else:
                kwargs["metavar"] = f.name.upper()
        kwargs.update(spec)
        parser.add_argument(flag, **kwargs)


def dataclass_values(args: argparse.Namespace, cls, skip: tuple[str, ...] = (), given_only: bool = False) -> dict:
    """{field: value} of `cls`'s options in parsed `args` (`given_only`: leave out those that are None)."""
    out = {f.name: getattr(args, f.name) for f in fields(cls) if f.name not in skip and hasattr(args, f.name)}
    return {k: v for k, v in out.items() if v is not None} if given_only else out
