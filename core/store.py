"""The one SQLite database, through sqlite-utils. This module owns the schema.

Tables (every write is an upsert on the natural key, so re-running a step never duplicates):
  datasets(name)                     prepared datasets and their counts
  items(dataset, item_id)            titles, years, genres (pages search them)
  sids(dataset, item_id)             the current SID of each item
  sid_maps(dataset)                  method, hash, statistics of the current SID map
  runs(name)                         a training or evaluation run: stage, parent, config, commit, status
  metrics(run, split, name)          evaluation metrics of a run
  run_logs(run, step, key)           per-step training logs (loss curves, rewards)
  user_results(run, split, user_id)  per-user top-10 and target rank for drill-down
  traces(id)                         prompt, reasoning, top-k and flags of one recommendation
  labels(trace_id, annotator)        human labels of a trace's reasoning quality
  histories(name)                    named histories saved from the app
  teacher_cache(key)                 cached teacher responses, so re-running a corpus costs nothing

WAL mode lets the app read while the CLI writes, and two app sessions label at once; each label
is committed the moment it is saved.
"""
from __future__ import annotations

import datetime as _dt
import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

import sqlite_utils

from core.errors import SidLensError
from core.paths import db_path
from core.provenance import git_commit

# How long a connection waits for another's write lock before "database is locked".
BUSY_SECONDS = 30.0

SCHEMA: dict[str, tuple[dict[str, type], list[str]]] = {
    "datasets": ({"name": str, "source": str, "users": int, "items": int, "interactions": int,
                  "meta": str, "updated": str}, ["name"]),
    "items": ({"dataset": str, "item_id": str, "title": str, "year": int, "genres": str}, ["dataset", "item_id"]),
    "sids": ({"dataset": str, "item_id": str, "sid": str, "codes": str}, ["dataset", "item_id"]),
    "sid_maps": ({"dataset": str, "method": str, "hash": str, "path": str, "stats": str, "updated": str},
                 ["dataset"]),
    "runs": ({"name": str, "dataset": str, "stage": str, "parent": str, "config": str, "git_commit": str,
              "status": str, "checkpoint": str, "created": str, "updated": str}, ["name"]),
    "metrics": ({"run": str, "split": str, "name": str, "value": float, "users": int, "updated": str},
                ["run", "split", "name"]),
    "run_logs": ({"run": str, "step": int, "key": str, "value": float}, ["run", "step", "key"]),
    "user_results": ({"run": str, "split": str, "user_id": str, "target": str, "rank": int, "topk": str,
                      "pick": str, "pick_listed": int, "pick_lik": str},
                     ["run", "split", "user_id"]),
    "traces": ({"id": str, "run": str, "split": str, "user_id": str, "history": str, "prompt": str,
                "reasoning": str, "topk": str, "target": str, "target_rank": int, "flags": str,
                "source": str, "created": str, "pick": str, "pick_listed": int, "pick_lik": str}, ["id"]),
    "labels": ({"trace_id": str, "annotator": str, "quality": int, "flags": str, "note": str,
                "updated": str}, ["trace_id", "annotator"]),
    "histories": ({"name": str, "dataset": str, "items": str, "updated": str}, ["name"]),
    "teacher_cache": ({"key": str, "model": str, "request": str, "response": str, "created": str}, ["key"]),
}
JSON_COLUMNS = {"meta", "genres", "codes", "stats", "config", "topk", "flags", "history", "items", "request"}


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _encode(row: dict) -> dict:
    return {k: json.dumps(v, ensure_ascii=False) if k in JSON_COLUMNS and not isinstance(v, str) and v is not None
            else v for k, v in row.items()}


def _decode(row: dict) -> dict:
    out = dict(row)
    for k in JSON_COLUMNS & out.keys():
        if isinstance(out[k], str):
            try:
                out[k] = json.loads(out[k])
            except ValueError:
                pass
    return out


class Store:
    """Typed access to the database. `Store(":memory:")` for tests."""

    def __init__(self, path: str | Path | None = None):
        path = db_path() if path is None else path
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            if str(path) == ":memory:":
                self.db = sqlite_utils.Database(memory=True)
            else:  # wait for a writer (another process, an app session) instead of failing at once
                self.db = sqlite_utils.Database(sqlite3.connect(str(path), timeout=BUSY_SECONDS))
                self._enable_wal()
            self.db.execute(f"PRAGMA busy_timeout = {int(BUSY_SECONDS * 1000)}")
            self.path = path
            self._ensure_schema()
        except sqlite3.DatabaseError as exc:  # a file that is not a database, or locked past the timeout
            raise SidLensError(f"cannot open database {path}: {exc}") from None

    def _enable_wal(self) -> None:
        """WAL mode, retried: a journal-mode change that meets another connection's lock fails at
        once with "database is locked" (SQLite does not call the busy handler for it), which is what
        two processes opening a new database together (DDP ranks, tests/train/test_distributed.py) hit."""
        deadline = time.monotonic() + BUSY_SECONDS
        while True:
            try:
                self.db.enable_wal()
                return
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _ensure_schema(self) -> None:
        """Create missing tables, columns and indexes in one write transaction (BEGIN IMMEDIATE waits
        for the write lock), so processes opening the same new database at once do not race."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for name, (columns, pk) in SCHEMA.items():
                table = self.db[name]
                if not table.exists():
                    table.create(columns, pk=pk)
                else:
                    missing = {c: t for c, t in columns.items() if c not in table.columns_dict}
                    for column, kind in missing.items():
                        table.add_column(column, kind)
            self.db["runs"].create_index(["dataset"], if_not_exists=True)
            self.db["traces"].create_index(["run", "split", "user_id"], if_not_exists=True)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    # -- generic -----------------------------------------------------------------------------
    def upsert(self, table: str, rows: dict | Iterable[dict]) -> None:
        rows = [rows] if isinstance(rows, dict) else list(rows)
        if rows:
            with self.db.conn:
                self.db[table].upsert_all([_encode(r) for r in rows], pk=SCHEMA[table][1], alter=False)

    def rows(self, table: str, where: str | None = None, params: Any = None, order_by: str | None = None,
             limit: int | None = None) -> list[dict]:
        return [_decode(r) for r in self.db[table].rows_where(where, params or [], order_by=order_by, limit=limit)]

    def get(self, table: str, key) -> dict | None:
        try:
            return _decode(self.db[table].get(key))
        except sqlite_utils.db.NotFoundError:
            return None

    def delete_where(self, table: str, where: str, params: Any) -> None:
        with self.db.conn:
            self.db[table].delete_where(where, params)

    # -- runs ----------------------------------------------------------------------------------
    def start_run(self, name: str, *, dataset: str, stage: str, config: dict, parent: str | None = None,
                  checkpoint: str | None = None, status: str = "running") -> dict:
        """Create or restart a run (same name = same run). A restart forgets what described the old
        model: its metrics, per-user results and evaluation traces (traces someone labeled, and
        traces sent from the app, are kept: they are people's work). Training logs are the stage's
        business (a resumed run keeps them)."""
        existing = self.get("runs", name)
        row = {"name": name, "dataset": dataset, "stage": stage, "parent": parent or "", "config": config,
               "git_commit": git_commit(), "status": status, "checkpoint": checkpoint or "",
               "created": existing["created"] if existing else now(), "updated": now()}
        with self.db.conn:
            if existing:
                for table in ("metrics", "user_results"):
                    self.db[table].delete_where("run = ?", [name])
                self.db["traces"].delete_where(
                    "run = ? and source = 'eval' and id not in (select trace_id from labels)", [name])
            self.db["runs"].upsert(_encode(row), pk="name", alter=False)
        return row

    def finish_run(self, name: str, status: str = "done", **fields) -> None:
        if not self.get("runs", name):
            raise SidLensError(f"unknown run {name!r}")
        self.upsert("runs", {"name": name, "status": status, "updated": now(), **fields})

    def run(self, name: str) -> dict:
        row = self.get("runs", name)
        if row is None:
            known = ", ".join(r["name"] for r in self.rows("runs", order_by="name")) or "none yet"
            raise SidLensError(f"unknown run {name!r} (known runs: {known})")
        return row

    def log_steps(self, run: str, step: int, values: dict[str, float]) -> None:
        self.upsert("run_logs", [{"run": run, "step": int(step), "key": k, "value": float(v)}
                                 for k, v in values.items() if v is not None])

    def record_metrics(self, run: str, split: str, metrics: dict[str, float], users: int) -> None:
        self.upsert("metrics", [{"run": run, "split": split, "name": k, "value": float(v), "users": int(users),
                                 "updated": now()} for k, v in metrics.items()])

    def metrics(self, run: str, split: str = "test") -> dict[str, float]:
        return {r["name"]: r["value"] for r in self.rows("metrics", "run = ? and split = ?", [run, split])}
