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
import re
from pathlib import Path

from core.atomic import read_jsonl, write_json, write_jsonl
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


def register_folder(store: Store, run: str, folder: Path) -> dict:
    """Register checkpoint `folder` as `run` (row, metrics, per-user results from its traces, logs) and
    return the row; what the store held of an earlier `run` is forgotten as on a restart
    (`Store.start_run`), and its logs are replaced by the folder's."""
    from core.eval.traces import import_traces
    from core.llm.adapter import META_FILE

    record = card.read_run(folder)
    meta = json.loads((folder / META_FILE).read_text())
    store.start_run(run, dataset=record.get("dataset") or meta.get("dataset"), stage=record.get("stage", "sft"),
                    config=record or meta, checkpoint=relative_to_repo(folder), status="done",
                    parent=record.get("parent") or meta.get("parent"))
    for split_key, metrics in card.read_metrics(folder).items():
        values = {k: v for k, v in metrics.items() if k not in ("users", "seconds")}
        store.record_metrics(run, split_key, values, metrics.get("users", 0))
    import_traces(store, folder, run)
    store.delete_where("run_logs", "run = ?", [run])
    store.upsert("run_logs", card.read_logs(folder, run))
    return store.get("runs", run)


def resolve_run(store: Store, run: str) -> dict:
    """The run's store row; registered from `data/checkpoints/<run>/` when the store lacks it."""
    from core.llm.adapter import META_FILE

    row = store.get("runs", run)
    folder = checkpoints_dir() / run
    if row is None and (folder / META_FILE).is_file():
        row = register_folder(store, run, folder)
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


NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def ship(store: Store, run: str, name: str) -> Path:
    """Copy `run`'s checkpoint folder to `data/checkpoints/<name>/` under the new name, replacing
    what shipped there, and register it in the store in place of the old `name` (`register_folder`).

    Why: a candidate is trained under its own name (`--run sft-pick`) so the shipped checkpoint stays
    usable while it trains and is judged; the one that wins becomes the shipped name. The folder's
    run name (sidlens.json, run.json, traces, logs) is rewritten; run.json keeps the commands as they
    ran and records the ship command, so the card still says exactly how the adapter was made. The
    new folder is written beside the old one and swapped in by renames (a crash leaves the old one).
    Refused when labels refer to traces of the old `name` (shipping would give those ids new text).
    Command: `python -m core runs ship RUN --as NAME`."""
    import shutil

    from core.eval.traces import TRACES_FILE
    from core.llm.adapter import META_FILE
    from core.store import now

    if not NAME_PATTERN.fullmatch(name or ""):
        raise SidLensError(f"cannot ship as {name!r}: use letters, digits, '.', '_' and '-'")
    if name == run:
        raise SidLensError(f"run {run!r} already has that name")
    source = resolve_repo_path(resolve_run(store, run)["checkpoint"])
    labeled = store.rows("labels", "trace_id in (select id from traces where run = ?)", [name])
    if labeled:
        raise SidLensError(f"{len(labeled)} labels refer to traces of {name!r}: export them on the Label page and "
                           f"delete them, or ship under another name")
    target = checkpoints_dir() / name
    staging, replaced = target.with_name(f".{name}.shipping"), target.with_name(f".{name}.replaced")
    for leftover in (staging, replaced):
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.copytree(source, staging)
    meta = json.loads((staging / META_FILE).read_text())
    write_json(staging / META_FILE, {**meta, "run": name})
    record = card.read_run(staging)
    command = f"python -m core runs ship {run} --as {name}"
    card.write_run(staging, {**record, "run": name, "ship_command": command,
                             "notes": [*record.get("notes", []), f"Trained as run `{run}`, shipped as `{name}` by "
                                                                 f"`{command}` on {now()[:10]}."]})
    prefix = f"{run}/"
    traces = [{**row, "run": name, "id": name + "/" + row["id"][len(prefix):] if row["id"].startswith(prefix)
               else row["id"]} for row in read_jsonl(staging / TRACES_FILE)]
    write_jsonl(staging / TRACES_FILE, traces)
    card.write_logs_rows(staging, card.read_logs(staging, name))
    if target.exists():
        target.rename(replaced)
    staging.rename(target)
    shutil.rmtree(replaced, ignore_errors=True)
    register_folder(store, name, target)
    return target
