"""Most-popular baseline: every user gets the items with the most training interactions.

Popularity is counted on the training part of the leave-one-out split only (each user's sequence
without its last two items), so no validation or test target leaks into the counts; the same
counts rank the valid and the test targets. The items the user saw before the target are
excluded by default (RecBole's Pop model with full-sort evaluation does the same).
Run it with `python -m core baselines run --dataset ml-100k --only popularity`.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

from core.data.split import Split
from core.eval.ranking import ItemScorer, RankingConfig, run_baseline
from core.store import Store

RUN_NAME = "popularity"


class Popularity(ItemScorer):
    """Scores each item by its number of interactions in the training part of `split`."""

    def __init__(self, split: Split):
        super().__init__(list(split.dataset.items))
        counts = Counter(item for user in split.sequences for item in split.train_items(user))
        self.counts = np.array([counts.get(item, 0) for item in self.item_ids], dtype=np.float64)

    def score(self, histories: Sequence[Sequence[str]]) -> np.ndarray:
        return np.tile(self.counts, (len(histories), 1))


def run_popularity(store: Store, split: Split, config: RankingConfig | None = None,
                   name: str = RUN_NAME) -> dict[str, dict]:
    """Fit, evaluate and store the popularity baseline as run `name`; metrics by split part."""
    return run_baseline(store, name, split, config or RankingConfig(), lambda run: (Popularity(split), None, {}))
