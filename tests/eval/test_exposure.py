"""Per-level hits of the top-1 and exposure of the top-10 lists, on hand-made results."""
from __future__ import annotations

import pytest

from core.eval.exposure import exposure, gini, level_hits, popularity_percentiles
from core.sid.sidmap import SidMap

SIDMAP = SidMap("toy", "hand", [2, 2, 2], {"a": (0, 0, 0), "b": (0, 0, 1), "c": (0, 1, 0), "d": (1, 0, 0)})


def test_level_hits_count_prefix_matches_of_the_top1():
    rows = [{"target": "a", "topk": ["a", "b"]},   # all three levels
            {"target": "a", "topk": ["b"]},        # levels 1-2
            {"target": "a", "topk": ["c"]},        # level 1 only
            {"target": "a", "topk": ["d"]},        # nothing
            {"target": "a", "topk": []}]           # no recommendation
    assert level_hits(rows, SIDMAP) == {"top1_level_1": 0.6, "top1_levels_1_2": 0.4, "top1_all_levels": 0.2}
    assert level_hits([], SIDMAP)["top1_level_1"] == 0.0


def test_gini_and_exposure():
    assert gini([5, 5, 5, 5]) == pytest.approx(0.0)
    assert gini([0, 0, 0, 12]) == pytest.approx(0.75)  # (n - 1) / n for one item taking everything
    assert gini([]) == 0.0 and gini([0, 0]) == 0.0
    percentile = popularity_percentiles([["a", "a", "b"], ["a", "c"]], ["a", "b", "c", "d"])
    assert percentile["a"] == 100.0 and percentile["d"] == 0.0
    same = exposure([{"topk": ["a", "b"]}, {"topk": ["a", "b"]}], ["a", "b", "c", "d"], percentile)
    spread = exposure([{"topk": ["a", "b"]}, {"topk": ["c", "d"]}], ["a", "b", "c", "d"], percentile)
    assert same["coverage"] == 0.5 and spread["coverage"] == 1.0
    assert same["gini"] > spread["gini"] == pytest.approx(0.0)
    assert same["popularity_percentile"] > spread["popularity_percentile"]
