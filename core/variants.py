"""The variants an analyst compares: which exist, their metrics side by side, where they disagree.

A variant is a run of the dataset that has an LM checkpoint (sft, reason, grpo, dpo, sdpo, or
any run a user trained). Shipped checkpoints under `data/checkpoints/<run>/` are registered in the
store the first time they are seen (`core.runs.resolve_run`), so a clean clone lists them
before anything was evaluated locally. Baselines (popularity, SASRec) have no checkpoint: they are
not variants, but `metrics_table` compares them beside the variants all the same.

Metric names are those the evaluation stores ("hr@10", "ndcg@10", "cand20_hr@1", "invalid_rate",
flag rates "flag_*"); the table keeps whatever each run has, so a metric one run lacks is blank.
"""
from __future__ import annotations

from typing import Iterable

from core.errors import SidLensError
from core.eval.ranking import BASELINE_STAGE
from core.store import Store

HEADLINE = ("hr@1", "hr@5", "hr@10", "ndcg@5", "ndcg@10", "cand20_hr@1", "invalid_rate", "align_sid_to_title",
            "align_title_to_sid")


# the pipeline's order: the app's default active variant is the first, the aligned SFT model
STAGE_ORDER = ("sft", "reason", "grpo", "dpo", "sdpo")


def variants(store: Store, dataset: str) -> list[dict]:
    """Finished runs of `dataset` with an LM checkpoint, in pipeline order (STAGE_ORDER, then other
    stages), by name within a stage (baselines keep their own model files: not variants); call
    `register_shipped` first so shipped checkpoints are included."""
    rows = store.rows("runs", "dataset = ? and checkpoint != '' and stage != ? and status = 'done'",
                      [dataset, BASELINE_STAGE], order_by="name")
    return sorted(rows, key=lambda r: _stage_rank(r.get("stage")))


def _stage_rank(stage: str | None) -> int:
    """Position in STAGE_ORDER; other stages after it, baselines last."""
    if stage == BASELINE_STAGE:
        return len(STAGE_ORDER) + 1
    return STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER)


def runs_of(store: Store, dataset: str) -> list[str]:
    """Every run of `dataset` (variants, baselines, unfinished runs): pipeline order, baselines last."""
    return [r["name"] for r in sorted(store.rows("runs", "dataset = ?", [dataset], order_by="name"),
                                      key=lambda r: _stage_rank(r.get("stage")))]


def splits(store: Store, dataset: str) -> list[str]:
    """Splits with metrics for runs of `dataset`, the one most runs were evaluated on first ("test@100"
    is the first 100 test users: quick evaluations of LM variants often stop there)."""
    rows = store.db.execute("select metrics.split, count(distinct metrics.run) as n from metrics join runs on "
                            "metrics.run = runs.name where runs.dataset = ? group by metrics.split "
                            "order by n desc, metrics.split", [dataset])
    return [r[0] for r in rows.fetchall()]


def runs_with_metrics(store: Store, dataset: str, split: str = "test") -> list[str]:
    """Every run of `dataset` (variants and baselines) that has metrics on `split`: variants in
    pipeline order, then baselines, by name within a stage."""
    rows = store.db.execute("select distinct runs.name, runs.stage from runs join metrics on metrics.run = runs.name "
                            "where runs.dataset = ? and metrics.split = ? order by runs.name", [dataset, split])
    return [name for name, _ in sorted(rows.fetchall(), key=lambda r: _stage_rank(r[1]))]


def widest_test_split(splits: Iterable[str], part: str = "test") -> str | None:
    """Of a run's evaluated `splits`: `part` itself ("test": the whole test split; "align": the
    alignment probe over the whole catalogue) if there, else the largest "<part>@N", else None."""
    names = set(splits)
    if part in names:
        return part
    prefix = part + "@"
    subsets = [n for n in names if n.startswith(prefix) and n[len(prefix):].isdigit()]
    return max(subsets, key=lambda n: int(n[len(prefix):]), default=None)


def metrics_table(store: Store, runs: list[str], split: str | None = "test") -> list[dict]:
    """One row per run: {"run", "stage", "parent", metric: value, ...} (headline metrics first).
    `split=None` takes each run's `widest_test_split` and says which in a "split" column, with the
    run's alignment probe (`align_*`, core.eval.alignment) beside it when it has one."""
    table = []
    for name in runs:
        row = store.run(name)
        evaluated = [r["split"] for r in store.rows("metrics", "run = ?", [name])]
        chosen = widest_test_split(evaluated) if split is None else split
        values = store.metrics(name, chosen) if chosen else {}
        probe = widest_test_split(evaluated, "align") if split is None else None
        if probe:
            values = {**values, **store.metrics(name, probe)}
        ordered = {k: values[k] for k in HEADLINE if k in values}
        ordered.update({k: v for k, v in sorted(values.items()) if k not in ordered})
        table.append({"run": name, "stage": row.get("stage") or "", "parent": row.get("parent") or "",
                      **({"split": chosen or ""} if split is None else {}), **ordered})
    return table


def curves(store: Store, runs: list[str]) -> list[dict]:
    """Training logs of `runs` as long rows {"run", "step", "key", "value"} (loss, reward, kl, ...)."""
    if not runs:
        return []
    marks = ", ".join("?" * len(runs))
    return store.rows("run_logs", f"run in ({marks})", list(runs), order_by="run, key, step")


def per_user(store: Store, runs: list[str], split: str = "test") -> dict[str, dict[str, dict]]:
    """{user_id: {run: user_results row}} for users every one of `runs` has a result for."""
    if not runs:
        raise SidLensError("pick at least one variant to compare")
    by_run = {r: {row["user_id"]: row for row in store.rows("user_results", "run = ? and split = ?", [r, split])}
              for r in runs}
    shared = set.intersection(*(set(rows) for rows in by_run.values()))
    return {u: {r: by_run[r][u] for r in runs} for u in sorted(shared, key=lambda u: (len(u), u))}


def disagree(results: dict[str, dict], depth: int = 1) -> bool:
    """Whether the runs' top-`depth` items differ for one user (results: {run: user_results row})."""
    tops = {tuple((row.get("topk") or [])[:depth]) for row in results.values()}
    return len(tops) > 1


def trace_for(store: Store, run: str, user_id: str, split: str = "test") -> dict | None:
    """The stored trace (reasoning, top-10, flags) of `run` for one user, if the run stored one."""
    rows = store.rows("traces", "run = ? and split = ? and user_id = ?", [run, split, str(user_id)], limit=1)
    return rows[0] if rows else None


def significance(store: Store, a: str, b: str, split: str = "test",
                 metrics: tuple[str, ...] = ("hr@10", "ndcg@10")) -> list[dict]:
    """One row per metric: run a's and run b's value with bootstrap 95% CIs over the users both have
    results for on `split`, and the paired CI of a - b with its plain reading (core.eval.significance);
    the prompted 20-candidate HR@1 and ValidRatio (and the likelihood HR@1 under that prompt) join
    `metrics` when both runs answered the candidate-list prompt for every shared user."""
    from core.eval.significance import PROMPTED_FIELDS, compare_users

    results = {run: {r["user_id"]: r for r in store.rows("user_results", "run = ? and split = ?", [run, split])}
               for run in (a, b)}
    shared = results[a].keys() & results[b].keys()
    if shared:
        metrics = (*metrics, *(metric for metric, field in PROMPTED_FIELDS.items()
                               if all(results[run][u].get(field) is not None for run in (a, b) for u in shared)))
    rows = []
    for metric, row in compare_users(results[a], results[b], metrics).items():
        (ia, ib, d) = row["a"], row["b"], row["diff"]
        rows.append({"metric": metric, "users": d.users, a: ia.value, f"{a} 95% CI": f"[{ia.low:.4f}, {ia.high:.4f}]",
                     b: ib.value, f"{b} 95% CI": f"[{ib.low:.4f}, {ib.high:.4f}]", "difference": d.value,
                     "paired 95% CI": f"[{d.low:+.4f}, {d.high:+.4f}]", "reading": d.reading()})
    return rows


def exposure_table(store: Store, runs: list[str], split: str, dataset, sidmap) -> list[dict]:
    """Per run on `split`: per-level hits of the top-1 and exposure of the top-10s (core.eval.exposure)."""
    from core.data.split import Split
    from core.eval.exposure import exposure, level_hits, popularity_percentiles

    catalogue = sorted(i for i in sidmap.codes if i in dataset.items)
    data_split = Split(dataset)
    percentile = popularity_percentiles((data_split.train_items(u) for u in dataset.sequences), catalogue)
    out = []
    for run in runs:
        rows = store.rows("user_results", "run = ? and split = ?", [run, split])
        if rows:
            out.append({"run": run, "users": len(rows), **level_hits(rows, sidmap), **exposure(rows, catalogue, percentile)})
    return out


def k_ablation(store: Store, dataset: str, split: str = "test") -> list[dict]:
    """Preference runs of the candidate protocol with their K (negatives) and, per prompted 20-candidate
    HR@1 they were evaluated with ("answer": the item the answer names; "likelihood": the listed SID
    likeliest under the prompt), its value on `split` with a 95% Wilson interval over the users (a
    share of independent users: scipy's binomial proportion CI); sorted by K. The Compare page draws
    HR@1 against K, one series per kind."""
    from scipy.stats import binomtest

    from core.eval.candidates import PROMPTED_KEY, PROMPTED_LIK_KEY
    from core.runs import run_setting

    rows = []
    for run in store.rows("runs", "dataset = ? and stage in ('dpo', 'sdpo')", [dataset]):
        if run_setting(run, "protocol") != "candidates":
            continue
        k = int(run_setting(run, "negatives") or 1)
        for kind, key in (("answer", PROMPTED_KEY), ("likelihood", PROMPTED_LIK_KEY)):
            metric = store.rows("metrics", "run = ? and split = ? and name = ?", [run["name"], split, key])
            if not metric or not metric[0]["users"]:
                continue
            users, value = metric[0]["users"], metric[0]["value"]
            interval = binomtest(round(value * users), users).proportion_ci(0.95, method="wilson")
            rows.append({"run": run["name"], "K": k, "hr@1": value, "kind": kind, "low": interval.low,
                         "high": interval.high, "users": users})
    return sorted(rows, key=lambda r: (r["K"], r["run"], r["kind"]))
