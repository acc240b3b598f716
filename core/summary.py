"""Read-only summaries of a dataset for the Overview page (the CLI's `data stats` gives the counts)."""
from __future__ import annotations

from collections import Counter

import numpy as np

from core.data.schema import Dataset


def dataset_summary(dataset: Dataset) -> dict:
    """Counts, density and the spread of history lengths, plus items per genre and per release year."""
    stats = dataset.stats()
    lengths = np.array([len(s) for s in dataset.sequences.values()] or [0])
    genres = Counter(g for item in dataset.items.values() for g in item.genres)
    years = Counter(item.year for item in dataset.items.values() if item.year is not None)
    cells = max(stats["users"] * stats["items"], 1)
    return {**stats, "test_users": int((lengths >= 3).sum()), "density": stats["interactions"] / cells,
            "history_length": {"min": int(lengths.min()), "median": float(np.median(lengths)),
                               "max": int(lengths.max())},
            "genres": dict(genres.most_common()), "years": dict(sorted(years.items()))}
