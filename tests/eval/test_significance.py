"""Bootstrap CIs of ranking metrics and the paired CI of a difference between two runs."""
from __future__ import annotations

import math

import pytest

from core.errors import SidLensError
from core.eval.significance import compare_users, mean_ci, paired_diff_ci, per_user


def _rows(ranks):
    return [{"rank": r, "target": "t"} for r in ranks]


def test_per_user_values_from_ranks():
    assert per_user(_rows([1, 3, None, 11]), "hr@10") == [1.0, 1.0, 0.0, 0.0]
    assert per_user(_rows([1, 3, None]), "ndcg@10") == [1.0, pytest.approx(1 / math.log2(4)), 0.0]
    with pytest.raises(SidLensError, match="unknown metric"):
        per_user(_rows([1]), "mrr")


def test_per_user_values_of_the_prompted_protocol():
    rows = [{"target": "5", "pick": "5", "pick_listed": 1}, {"target": "5", "pick": "7", "pick_listed": 1},
            {"target": "5", "pick": "", "pick_listed": 0}, {"target": "5", "pick": "9", "pick_listed": 0}]
    assert per_user(rows, "cand20_prompted_hr@1") == [1.0, 0.0, 0.0, 0.0]
    assert per_user(rows, "cand20_valid_ratio") == [1.0, 1.0, 0.0, 0.0]
    with pytest.raises(SidLensError, match="--prompted-candidates"):
        per_user(rows + _rows([1]), "cand20_valid_ratio")
    with pytest.raises(SidLensError, match="likelihoods of the listed candidates"):
        per_user(rows, "cand20_prompted_lik_hr@1")  # stored before the likeliest candidate was kept
    liked = [{**r, "pick_lik": lik} for r, lik in zip(rows, ["7", "5", "", "5"])]
    assert per_user(liked, "cand20_prompted_lik_hr@1") == [0.0, 1.0, 0.0, 1.0]


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


def test_compare_users_uses_the_shared_users_only():
    a = {str(u): {"rank": 1 if u % 4 == 0 else None} for u in range(100)}
    b = {str(u): {"rank": 2 if u % 4 == 0 else None} for u in range(50, 150)}
    table = compare_users(a, b, ["hr@1", "hr@10"])
    assert table["hr@1"]["diff"].users == 50
    assert table["hr@10"]["diff"].value == 0.0 and table["hr@1"]["diff"].value == pytest.approx(12 / 50)  # users 52, 56, ..., 96
    with pytest.raises(SidLensError, match="share no evaluated users"):
        compare_users({"1": {"rank": 1}}, {"2": {"rank": 1}}, ["hr@10"])
