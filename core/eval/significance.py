"""Confidence intervals for the ranking metrics: is a difference a finding or noise?

    python -m core runs compare sft reason [--split test] [--metrics hr@10,ndcg@10] [--json]
    python -m core runs compare sdpo dpo --metrics cand20_prompted_hr@1,cand20_valid_ratio,hr@10

On 200 users one hit is 0.005 of HR@10, so a metric is shown with its bootstrap 95% CI, and two runs
evaluated on the same users get a *paired* bootstrap CI of their difference (users resampled
together, which is far tighter than comparing two separate intervals). Per-user values come from the
stored per-user results (`core.eval.results`): HR@K is 1 when the target's rank is at most K, NDCG@K
is 1/log2(rank+1); for runs evaluated with `--prompted-candidates`, `cand20_prompted_hr@1` is 1 when
the answer to the candidate-list prompt named the target, `cand20_valid_ratio` 1 when it named
any listed candidate, and `cand20_prompted_lik_hr@1` 1 when the likeliest listed candidate under
that prompt is the target. The resampling is scipy's (`scipy.stats.bootstrap`, percentile method, seeded),
so the same results give the same interval on any machine.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from core.errors import SidLensError
from core.eval.candidates import PROMPTED_KEY, PROMPTED_LIK_KEY, VALID_KEY

RESAMPLES = 2000
LEVEL = 0.95
# the per-user field each prompted-protocol metric is read from (None: the run was not asked that prompt)
PROMPTED_FIELDS = {PROMPTED_KEY: "pick", VALID_KEY: "pick", PROMPTED_LIK_KEY: "pick_lik"}


def per_user(rows: Sequence[dict], metric: str) -> list[float]:
    """Each user's value of `metric` from their per-user result rows (`core.eval.results.user_result`):
    "hr@K" or "ndcg@K" from the target's 1-based rank (None: not ranked), or a prompted-protocol
    metric (PROMPTED_KEY, VALID_KEY from the item the answer named, PROMPTED_LIK_KEY from the likeliest
    listed candidate)."""
    if metric == PROMPTED_LIK_KEY:
        if any(r.get("pick_lik") is None for r in rows):
            raise SidLensError(f"{metric} needs per-user likelihoods of the listed candidates: evaluate with "
                               "--prompted-candidates (results stored before they were kept lack them)")
        return [1.0 if r["pick_lik"] == r["target"] else 0.0 for r in rows]
    if metric in (PROMPTED_KEY, VALID_KEY):
        if any(r.get("pick") is None for r in rows):
            raise SidLensError(f"{metric} needs per-user answers to the candidate-list prompt: evaluate with "
                               "--prompted-candidates (results stored before it kept only the totals)")
        if metric == PROMPTED_KEY:
            return [1.0 if r["pick"] == r["target"] else 0.0 for r in rows]
        return [1.0 if r.get("pick_listed") else 0.0 for r in rows]
    name, _, k = metric.partition("@")
    if name not in ("hr", "ndcg") or not k.isdigit() or int(k) < 1:
        raise SidLensError(f"unknown metric {metric!r}: use hr@K, ndcg@K, {PROMPTED_KEY}, {VALID_KEY} "
                           f"or {PROMPTED_LIK_KEY}")
    k, ranks = int(k), [r.get("rank") for r in rows]
    if name == "hr":
        return [1.0 if r is not None and r <= k else 0.0 for r in ranks]
    return [1.0 / math.log2(r + 1) if r is not None and r <= k else 0.0 for r in ranks]


@dataclass(frozen=True)
class Interval:
    value: float   # the mean over users (a difference of means when paired)
    low: float
    high: float
    users: int

    @property
    def spans_zero(self) -> bool:
        return self.low <= 0.0 <= self.high

    def reading(self) -> str:
        """How a difference reads in plain words."""
        return "within noise (the CI spans 0)" if self.spans_zero else ("higher" if self.value > 0 else "lower")


def _bootstrap(samples: tuple, statistic, paired: bool, seed: int) -> tuple[float, float]:
    from scipy.stats import bootstrap

    n = len(samples[0])
    if n < 2 or all(len(set(s)) == 1 for s in samples):  # no spread to resample: the interval is the point
        point = float(statistic(*samples))
        return point, point
    result = bootstrap(samples, statistic, paired=paired, vectorized=False, n_resamples=RESAMPLES,
                       confidence_level=LEVEL, method="percentile", random_state=seed)
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def mean_ci(values: Sequence[float], seed: int = 0) -> Interval:
    """The mean of `values` with its bootstrap 95% CI."""
    if not values:
        raise SidLensError("no users to compute a confidence interval over")
    values = [float(v) for v in values]
    low, high = _bootstrap((values,), lambda x: sum(x) / len(x), paired=False, seed=seed)
    return Interval(sum(values) / len(values), low, high, len(values))


def paired_diff_ci(a: Sequence[float], b: Sequence[float], seed: int = 0) -> Interval:
    """mean(a) - mean(b) over the same users (a[i], b[i] are one user's values), with the paired
    bootstrap 95% CI of that difference."""
    if len(a) != len(b):
        raise SidLensError(f"a paired comparison needs the same users on both sides ({len(a)} vs {len(b)})")
    if not a:
        raise SidLensError("the two runs share no evaluated users")
    a, b = [float(x) for x in a], [float(x) for x in b]
    low, high = _bootstrap((a, b), lambda x, y: (sum(x) - sum(y)) / len(x), paired=True, seed=seed)
    return Interval((sum(a) - sum(b)) / len(a), low, high, len(a))


def compare_users(a: dict[str, dict], b: dict[str, dict], metrics: Sequence[str],
                  seed: int = 0) -> dict[str, dict]:
    """For two runs' {user_id: per-user result row} on one split: each metric of each run with its CI
    over the users both were evaluated on, and the paired CI of the difference (a - b)."""
    users = sorted(set(a) & set(b))
    if not users:
        raise SidLensError("the two runs share no evaluated users: evaluate them on the same split")
    out = {}
    for metric in metrics:
        va, vb = per_user([a[u] for u in users], metric), per_user([b[u] for u in users], metric)
        out[metric] = {"a": mean_ci(va, seed), "b": mean_ci(vb, seed), "diff": paired_diff_ci(va, vb, seed)}
    return out
