"""A run: its row in the store and its checkpoint folder, together.

A run is trained (core.train), evaluated (core.eval) and shown (app/, pages/) by name; its adapter,
card (`card`: run.json, metrics.json, logs, README) and traces live in `data/checkpoints/<run>/`,
and its status, metrics and per-user results in the store. This module is the one place that
joins the two: `resolve_run` finds a run's row, registering a committed checkpoint folder that a
fresh store (a clean clone) lacks; `register_shipped` does it for every folder; paths in rows are
kept relative to the repository (`relative_to_repo` / `resolve_repo_path`) so a clone elsewhere
still finds them. Training and evaluation both import this, never each other.
"""
from __future__ import annotations

import json
from pathlib import Path

from core.errors import SidLensError
from core.paths import REPO_ROOT, checkpoints_dir
from core.runs import card
from core.store import Store


def relative_to_repo(path: Path) -> str:
    """`path` relative to the repository when inside it (so a clean clone resolves it), else absolute."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def resolve_repo_path(path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else REPO_ROOT / p


def run_setting(row: dict, name: str, default=None):
    """A training setting of a run's store row: at the top of its config when the run was trained in
    this store, under "settings" when it was registered from a checkpoint folder (run.json)."""
    config = row.get("config") if isinstance(row.get("config"), dict) else {}
    value = config.get(name, (config.get("settings") or {}).get(name))
    return default if value is None else value


def resolve_run(store: Store, run: str) -> dict:
    """The run's store row; registered from `data/checkpoints/<run>/` when the store lacks it."""
    from core.eval.traces import import_traces
    from core.llm.adapter import META_FILE

    row = store.get("runs", run)
    folder = checkpoints_dir() / run
    if row is None and (folder / META_FILE).is_file():
        record = card.read_run(folder)
        meta = json.loads((folder / META_FILE).read_text())
        store.start_run(run, dataset=record.get("dataset") or meta.get("dataset"), stage=record.get("stage", "sft"),
                        config=record or meta, checkpoint=relative_to_repo(folder), status="done",
                        parent=record.get("parent") or meta.get("parent"))
        for split_key, metrics in card.read_metrics(folder).items():
            values = {k: v for k, v in metrics.items() if k not in ("users", "seconds")}
            store.record_metrics(run, split_key, values, metrics.get("users", 0))
        import_traces(store, folder)
        store.upsert("run_logs", card.read_logs(folder, run))
        row = store.get("runs", run)
    if row is None:
        store.run(run)  # raises the one-line "unknown run" error listing the known runs
    if not row.get("checkpoint"):
        raise SidLensError(f"run {run!r} (stage {row.get('stage') or 'unknown'}) has no LM checkpoint to evaluate")
    return row


def register_shipped(store: Store) -> list[str]:
    """Register every checkpoint folder under the checkpoints directory that the store lacks; returns
    one line per folder that could not be registered (the others still are)."""
    problems = []
    root = checkpoints_dir()
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        if store.get("runs", folder.name) is None:
            try:
                resolve_run(store, folder.name)
            except (SidLensError, ValueError, KeyError) as exc:
                problems.append(f"{folder}: {exc}")
    return problems
