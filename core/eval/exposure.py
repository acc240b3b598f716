"""What a variant recommends, beyond hit rates: how close its top-1 gets per SID level, and how
concentrated its recommendations are.

- Per-level hits: the share of users whose top-1 shares the target's first code, first two codes,
  or all three (the last is HR@1). A variant can miss the item but land in its neighbourhood;
  RL rewards that partial match, so this shows whether it does.
- Exposure over the users' top-10 lists: catalogue coverage (distinct items recommended / items),
  the Gini coefficient of how often each catalogue item is recommended (0: all equally, 1: one item
  for everybody), and the mean popularity percentile of the recommended items (training counts;
  100 = the most watched). RL is known to raise concentration; these say whether it does here.

Both are computed from the stored per-user results (`user_results`: target and top-10), so every
evaluated run, baselines included, gets them without re-running anything.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from core.sid.sidmap import SidMap


def level_hits(rows: Sequence[dict], sidmap: SidMap) -> dict[str, float]:
    """{"top1_level_1", "top1_levels_1_2", "top1_all_levels"}: shares of `rows` (each with `target`
    and `topk`) whose top-1 matches the target's SID on its first 1, 2 or all codes."""
    depth = len(sidmap.codebook_sizes)
    names = {1: "top1_level_1", 2: "top1_levels_1_2", depth: "top1_all_levels"}
    counts = Counter()
    for row in rows:
        top = (row.get("topk") or [None])[0]
        if top is None or top not in sidmap.codes or row["target"] not in sidmap.codes:
            continue
        got, want = sidmap.sid(top), sidmap.sid(row["target"])
        for n in names:
            counts[n] += got[:n] == want[:n]
    return {name: counts[n] / len(rows) if rows else 0.0 for n, name in names.items()}


def gini(counts: Iterable[int]) -> float:
    """Gini coefficient of non-negative counts (0 = equal, towards 1 = concentrated on few)."""
    values = sorted(counts)
    n, total = len(values), sum(values)
    if n == 0 or total == 0:
        return 0.0
    weighted = sum((i + 1) * v for i, v in enumerate(values))
    return (2 * weighted) / (n * total) - (n + 1) / n


def popularity_percentiles(train_sequences: Iterable[Sequence[str]], catalogue: Sequence[str]) -> dict[str, float]:
    """item -> percentile of its training interaction count among the catalogue (100 = most watched)."""
    counts = Counter(i for seq in train_sequences for i in seq)
    ordered = sorted(catalogue, key=lambda i: (counts[i], i))
    n = max(len(ordered) - 1, 1)
    return {item: 100.0 * rank / n for rank, item in enumerate(ordered)}


def exposure(rows: Sequence[dict], catalogue: Sequence[str], percentile: dict[str, float]) -> dict[str, float]:
    """{"coverage", "gini", "popularity_percentile"} of the top-10 lists in `rows`."""
    shown = Counter(i for row in rows for i in (row.get("topk") or []))
    recommended = [i for row in rows for i in (row.get("topk") or []) if i in percentile]
    return {"coverage": len(set(shown) & set(catalogue)) / max(len(catalogue), 1),
            "gini": gini(shown.get(i, 0) for i in catalogue),
            "popularity_percentile": sum(percentile[i] for i in recommended) / len(recommended) if recommended else 0.0}
