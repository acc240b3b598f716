"""Leave-one-out ranking metrics: HR@K and NDCG@K from the rank of each user's single target.

With exactly one relevant item per user the ideal DCG is 1, so NDCG@K = 1 / log2(rank + 1) when the
target is ranked within the top K (rank is 1-based) and 0 otherwise; HR@K is the share of users whose
target is in the top K. A target that a model never ranked (outside the beam, or excluded) has rank
None and counts as a miss at every K. These are the definitions of SASRec, S-DPO and RecBole's
full-sort evaluation, so numbers are comparable across every run in the store.
"""
from __future__ import annotations

import math
from typing import Sequence

KS = (1, 5, 10)


def rank_of(target: str, ranked_items: Sequence[str]) -> int | None:
    """1-based position of `target` in `ranked_items`, or None when it is absent."""
    for position, item in enumerate(ranked_items, start=1):
        if item == target:
            return position
    return None


def hit_ndcg(ranks: Sequence[int | None], ks: Sequence[int] = KS) -> dict[str, float]:
    """Mean HR@K and NDCG@K over users, keyed "hr@K" then "ndcg@K" for every K in `ks`.

    An empty list gives zeros rather than dividing by zero, so an evaluation over no users still
    produces a well-formed row (the stored user count says it was empty).
    """
    n = len(ranks)
    hits = {k: 0 for k in ks}
    gains = {k: 0.0 for k in ks}
    for rank in ranks:
        if rank is None:
            continue
        if rank < 1:
            raise ValueError(f"ranks are 1-based, got {rank}")
        for k in ks:
            if rank <= k:
                hits[k] += 1
                gains[k] += 1.0 / math.log2(rank + 1)
    out = {f"hr@{k}": hits[k] / n if n else 0.0 for k in ks}
    out.update({f"ndcg@{k}": gains[k] / n if n else 0.0 for k in ks})
    return out
