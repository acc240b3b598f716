"""Store and read back the outcome of evaluating a run on one split.

An evaluation has two parts: the metrics (one row per metric in `metrics`) and, for drill-down
pages, one row per user in `user_results` with the target, the model's top-10 and the target's
rank (NULL when the model did not rank it at all), and, when the candidate-list prompt was asked
(`--prompted-candidates`), the item its answer named (`pick`, "" for none) and whether that item was
one of the listed candidates (`pick_listed`) and the listed candidate likeliest under that prompt
(`pick_lik`), from which paired CIs of the prompted protocol follow.
Saving replaces the per-user rows of that (run, split) so a re-run on fewer users does not leave
stale users behind; metrics are upserted by name, so metrics recorded separately (e.g. by another
protocol) survive.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from core.errors import SidLensError
from core.store import Store

TOP_K = 10


@dataclass
class Results:
    """What `load_results` returns: metrics, the user count they were computed on, per-user rows."""

    run: str
    split: str
    metrics: dict[str, float]
    users: int
    per_user: list[dict]


def user_result(user_id: str, target: str, ranked_items: Sequence[str], rank: int | None,
                pick: str | None = None, pick_listed: bool | None = None, pick_lik: str | None = None) -> dict:
    """One per-user row: the first TOP_K of `ranked_items` and the target's 1-based rank (or None);
    with the prompted protocol, the item the answer named ("" for none), whether it was listed, and
    the likeliest listed candidate ("" on a tie)."""
    return {"user_id": str(user_id), "target": str(target), "topk": [str(i) for i in ranked_items[:TOP_K]],
            "rank": None if rank is None else int(rank), "pick": pick,
            "pick_listed": None if pick_listed is None else int(pick_listed), "pick_lik": pick_lik}


def save_results(store: Store, run: str, split_name: str, per_user: Sequence[dict], metrics: dict[str, float],
                 users: int) -> None:
    """Record `metrics` for (run, split_name) and replace its per-user rows with `per_user`."""
    store.run(run)  # refuses an unknown run with the list of known ones
    save_user_results(store, run, split_name, per_user)
    store.record_metrics(run, split_name, metrics, users)


def save_user_results(store: Store, run: str, split_name: str, per_user: Sequence[dict]) -> None:
    """Replace the per-user rows of (run, split_name): what evaluation writes, and what registering a
    shipped checkpoint rebuilds from its traces (so paired CIs work on a clean clone)."""
    rows = [{"run": run, "split": split_name, "user_id": str(r["user_id"]), "target": str(r["target"]),
             "rank": None if r.get("rank") is None else int(r["rank"]), "topk": list(r["topk"])[:TOP_K],
             "pick": r.get("pick"), "pick_listed": r.get("pick_listed"), "pick_lik": r.get("pick_lik")}
            for r in per_user]
    store.delete_where("user_results", "run = ? and split = ?", [run, split_name])
    store.upsert("user_results", rows)


def load_results(store: Store, run: str, split: str = "test") -> Results:
    """Metrics and per-user rows of `run` on `split`; a one-line error when it was never evaluated."""
    store.run(run)
    metric_rows = store.rows("metrics", "run = ? and split = ?", [run, split])
    if not metric_rows:
        raise SidLensError(f"run {run!r} has no results on the {split} split (evaluate it first)")
    per_user = store.rows("user_results", "run = ? and split = ?", [run, split], order_by="rowid")
    return Results(run=run, split=split, metrics={r["name"]: r["value"] for r in metric_rows},
                   users=max(r["users"] for r in metric_rows), per_user=per_user)
