"""Bootstrap CIs of ranking metrics and the paired CI of a difference between two runs."""
from __future__ import annotations

import math

import pytest

from core.errors import SidLensError
from core.eval.significance import compare_ranks, mean_ci, paired_diff_ci, per_user


def test_per_user_values_from_ranks():
    assert per_user([1, 3, None, 11], "hr@10") == [1.0, 1.0, 0.0, 0.0]
    assert per_user([1, 3, None], "ndcg@10") == [1.0, pytest.approx(1 / math.log2(4)), 0.0]
    with pytest.raises(SidLensError, match="unknown metric"):
        per_user([1], "mrr")


def test_intervals_contain_the_mean_and_are_reproducible():
    values = [1.0] * 30 + [0.0] * 170
    ci = mean_ci(values)
    assert ci.low < ci.value == 0.15 < ci.high and ci.users == 200
    assert mean_ci(values) == ci  # seeded
    assert mean_ci([0.0] * 5) == mean_ci([0.0] * 5) and mean_ci([0.0] * 5).low == 0.0  # no spread, no crash


def test_paired_difference_is_tighter_than_separate_intervals_and_reads_plainly():
    a = [1.0 if i % 5 == 0 else 0.0 for i in range(300)]          # 0.2
    b = [x if i % 15 else 0.0 for i, x in enumerate(a)]            # a minus every third hit
    d = paired_diff_ci(a, b)
    assert d.value == pytest.approx(sum(a) / 300 - sum(b) / 300) and d.low > 0 and not d.spans_zero
    sa, sb = mean_ci(a), mean_ci(b)
    assert sa.low < sb.high  # the separate intervals overlap, the paired one still excludes 0
    assert paired_diff_ci(a, a).spans_zero and "within noise" in paired_diff_ci(a, a).reading()
    with pytest.raises(SidLensError, match="same users"):
        paired_diff_ci(a, b[:-1])


def test_compare_ranks_uses_the_shared_users_only():
    a = {str(u): (1 if u % 4 == 0 else None) for u in range(100)}
    b = {str(u): (2 if u % 4 == 0 else None) for u in range(50, 150)}
    table = compare_ranks(a, b, ["hr@1", "hr@10"])
    assert table["hr@1"]["diff"].users == 50
    assert table["hr@10"]["diff"].value == 0.0 and table["hr@1"]["diff"].value == pytest.approx(12 / 50)  # users 52, 56, ..., 96
    with pytest.raises(SidLensError, match="share no evaluated users"):
        compare_ranks({"1": 1}, {"2": 1}, ["hr@10"])
