import math

import pytest

from core.eval.metrics import hit_ndcg, rank_of


def test_rank_of_is_one_based_and_none_when_absent():
    assert rank_of("b", ["a", "b", "c"]) == 2
    assert rank_of("a", ["a"]) == 1
    assert rank_of("z", ["a", "b"]) is None
    assert rank_of("a", []) is None


def test_hit_ndcg_matches_hand_computed_values():
    # ranks 1, 3, None (never ranked), 12 (outside every K), 6
    m = hit_ndcg([1, 3, None, 12, 6])
    assert list(m) == ["hr@1", "hr@5", "hr@10", "ndcg@1", "ndcg@5", "ndcg@10"]
    assert m["hr@1"] == pytest.approx(1 / 5)
    assert m["hr@5"] == pytest.approx(2 / 5)
    assert m["hr@10"] == pytest.approx(3 / 5)
    assert m["ndcg@1"] == pytest.approx(1 / 5)
    assert m["ndcg@5"] == pytest.approx((1 + 0.5) / 5)  # 1/log2(2) + 1/log2(4)
    assert m["ndcg@10"] == pytest.approx((1 + 0.5 + 1 / math.log2(7)) / 5)
    assert m["ndcg@10"] == pytest.approx(0.3712414, abs=1e-6)


def test_hit_ndcg_custom_ks_empty_and_invalid():
    assert hit_ndcg([2], ks=(1, 2)) == {"hr@1": 0.0, "hr@2": 1.0, "ndcg@1": 0.0,
                                         "ndcg@2": pytest.approx(1 / math.log2(3))}
    assert hit_ndcg([]) == {k: 0.0 for k in ["hr@1", "hr@5", "hr@10", "ndcg@1", "ndcg@5", "ndcg@10"]}
    with pytest.raises(ValueError):
        hit_ndcg([0])
