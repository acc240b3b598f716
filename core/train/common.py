"""Pieces every trainer shares (SFT now; reasoning activation, DPO and GRPO reuse them).

- `run_dir(run)`: intermediate Trainer checkpoints live in `<data dir>/runs/<run>/` (git-ignored),
  never in the committed checkpoint folder, so a resumable run does not bloat the repository.
- `resume_point(...)`: the last Trainer checkpoint of a run, or None; refuses to resume a run whose
  saved settings differ (a silently mixed run would have an unreproducible loss curve).
- `command_line()`: the exact command that is running, recorded in the checkpoint's card.
- `folder_mb(path)`: the size a checkpoint adds to the repository.
- `release_freed_memory()`: freed heap pages back to the OS (the `ReleaseMemory` callback's work).
(The Trainer callbacks are in `core.train.callbacks`, which imports transformers.)
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import json
import shlex
import shutil
import sys
from pathlib import Path

from core.atomic import write_json
from core.errors import SidLensError
from core.paths import data_dir


def run_dir(run: str) -> Path:
    """Where a run's intermediate Trainer checkpoints and settings are kept."""
    return data_dir() / "runs" / run


def command_line() -> str:
    """The command that started this process, as a user would type it."""
    argv = sys.argv[1:] if sys.argv and sys.argv[0].endswith(("core/__main__.py", "core\\__main__.py")) else None
    if argv is not None:
        return "python -m core " + shlex.join(argv)
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else ""


def resume_point(run: str, settings: dict, restart: bool) -> str | None:
    """The last Trainer checkpoint to resume from, or None to start fresh.

    `settings` (JSON-able) are compared with those the run was started with; a mismatch is refused
    unless `restart`, which deletes the run's intermediate checkpoints.
    """
    from transformers.trainer_utils import get_last_checkpoint

    folder = run_dir(run)
    saved = folder / "settings.json"
    if restart and folder.exists():
        shutil.rmtree(folder)
    last = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    if last and saved.exists():
        before = json.loads(saved.read_text())
        changed = sorted(k for k in settings if before.get(k) != settings[k])  # keys no longer compared are ignored
        if changed:
            raise SidLensError(f"run {run!r} has a checkpoint trained with other settings ({', '.join(changed)}): "
                               "pass --restart to start it again, or --run NAME for a new run")
    write_json(saved, settings)
    return last


def folder_mb(path: Path) -> float:
    """Size of the files in a folder, in MB (10^6 bytes)."""
    return round(sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 1e6, 2)


def mean_of(rows: list[dict], key: str) -> float | None:
    """Mean of `key` over the log rows that have it (rounded for run.json); None when none do."""
    values = [r[key] for r in rows if r.get(key) is not None]
    return round(sum(values) / len(values), 4) if values else None


def release_freed_memory() -> bool:
    """glibc's `malloc_trim(0)`: free pages anywhere in the heap go back to the OS; False where the C
    library has none (musl, macOS), which is then a no-op."""
    trim = getattr(_libc(), "malloc_trim", None)
    return bool(trim(0)) if trim is not None else False


@functools.cache
def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
