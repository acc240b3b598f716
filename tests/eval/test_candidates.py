import pytest

from core.data.schema import Dataset, Interaction, Item
from core.data.split import Split
from core.errors import SidLensError
from core.eval.candidates import (
    PROMPTED_KEY,
    PROMPTED_LIK_KEY,
    VALID_KEY,
    best_candidate,
    hit_at_1,
    hr1_from_scores,
    prompted_metrics,
    sample_candidates,
)


def test_twenty_distinct_unseen_candidates_with_the_target(ml100k_split):
    for user in list(ml100k_split.sequences)[:50]:
        cands = sample_candidates(ml100k_split, user)
        target = ml100k_split.example(user, "test").target
        ever = set(ml100k_split.sequences[user])
        assert len(cands) == 20 and len(set(cands)) == 20
        assert target in cands
        assert not (set(cands) - {target}) & ever
        assert set(cands) <= set(ml100k_split.dataset.items)


def test_candidates_are_reproducible_per_user_and_seed(ml100k_split):
    users = list(ml100k_split.sequences)[:20]
    first = [sample_candidates(ml100k_split, u, seed=3) for u in users]
    again = [sample_candidates(ml100k_split, u, seed=3) for u in reversed(users)][::-1]
    assert first == again
    other = [sample_candidates(ml100k_split, u, seed=4) for u in users]
    assert first != other
    positions = {c.index(ml100k_split.example(u, "test").target) for u, c in zip(users, first)}
    assert len(positions) > 3  # shuffled: the target is not always in the same slot


def test_valid_part_uses_the_valid_target(ml100k_split):
    user = next(iter(ml100k_split.sequences))
    assert ml100k_split.example(user, "valid").target in sample_candidates(ml100k_split, user, part="valid")


def test_too_few_unseen_items_is_a_user_error():
    items = {str(i): Item(str(i), f"item {i}") for i in range(5)}
    seq = [Interaction("u", str(i), i) for i in range(4)]
    split = Split(Dataset("tiny", items, {}, {"u": seq}))
    with pytest.raises(SidLensError, match="unseen items"):
        sample_candidates(split, "u", n=3)
    assert sorted(sample_candidates(split, "u", n=2)) == ["3", "4"]


def test_hr1_counts_strict_wins_and_ties_as_misses():
    assert hit_at_1(["a", "b", "c"], [0.1, 0.9, 0.3], "b")
    assert not hit_at_1(["a", "b", "c"], [0.9, 0.1, 0.3], "b")
    assert not hit_at_1(["a", "b"], [0.5, 0.5], "b")
    assert hr1_from_scores([["a", "b"], ["a", "b"], ["x", "y"]], [[1, 2], [2, 1], [0, 0]], ["b", "b", "x"]) \
        == pytest.approx(1 / 3)
    assert hr1_from_scores([], [], []) == 0.0
    with pytest.raises(ValueError):
        hit_at_1(["a"], [1.0], "z")


def test_prompted_metrics_count_target_answers_and_answers_from_the_list():
    lists = [["a", "b", "c"], ["a", "b", "c"], ["d", "e", "f"], ["d", "e", "f"], ["g", "h", "i"]]
    answers = ["b",   # the target
               "c",   # another candidate: valid, a miss
               "a",   # a real item but not one of this user's candidates: invalid
               None,  # no item named
               "g"]   # the target
    metrics = prompted_metrics(lists, answers, ["b", "b", "e", "e", "g"])
    assert metrics == {PROMPTED_KEY: pytest.approx(2 / 5), VALID_KEY: pytest.approx(3 / 5)}
    assert (PROMPTED_KEY, VALID_KEY) == ("cand20_prompted_hr@1", "cand20_valid_ratio")
    assert prompted_metrics([], [], []) == {PROMPTED_KEY: 0.0, VALID_KEY: 0.0}
    with pytest.raises(ValueError):
        prompted_metrics([["a"]], [], ["a"])


def test_the_likeliest_listed_candidate_is_a_strict_winner_and_scores_the_likelihood_hr1():
    assert best_candidate(["a", "b", "c"], [-3.0, -1.0, -2.0]) == "b"
    assert best_candidate(["a", "b", "c"], [-1.0, -1.0, -2.0]) == ""  # a tie names no candidate
    with pytest.raises(ValueError):
        best_candidate(["a", "b"], [-1.0])
    lists = [["a", "b"], ["a", "b"], ["c", "d"]]
    metrics = prompted_metrics(lists, ["b", None, "x"], ["b", "b", "c"], likeliest=["a", "b", ""])
    assert metrics[PROMPTED_LIK_KEY] == pytest.approx(1 / 3)  # only the second user's likeliest is its target
    assert metrics[PROMPTED_KEY] == pytest.approx(1 / 3) and metrics[VALID_KEY] == pytest.approx(1 / 3)
    assert PROMPTED_LIK_KEY not in prompted_metrics(lists, ["b", None, "x"], ["b", "b", "c"])
    with pytest.raises(ValueError):
        prompted_metrics(lists, ["b", None, "x"], ["b", "b", "c"], likeliest=["a"])
