import numpy as np

from core.data.schema import Dataset, Interaction, Item
from core.data.split import Split
from core.eval.candidates import sample_candidates
from core.eval.ranking import CAND_KEY, ItemScorer, evaluate_scorer, rank_part

FILLERS = [f"f{i:02d}" for i in range(20)]  # never-seen items scored 0, so 20 candidates exist


class FixedScores(ItemScorer):
    """Every history gets the same hand-written scores (0 for the fillers)."""

    def __init__(self, scores: dict[str, float]):
        scores = {**scores, **dict.fromkeys(FILLERS, 0.0)}
        super().__init__(list(scores))
        self.values = np.array(list(scores.values()))

    def score(self, histories):
        return np.tile(self.values, (len(histories), 1))


def toy_split() -> Split:
    items = {i: Item(i, i.upper()) for i in [*"abcde", *FILLERS]}
    seqs = {"u": [Interaction("u", i, t) for t, i in enumerate("abcd")]}
    return Split(Dataset("toy", items, {}, seqs))


def test_full_rank_excludes_seen_items_and_breaks_ties_by_item_order():
    scorer = FixedScores({"a": 5, "b": 4, "c": 3, "d": 3, "e": 1})
    [test] = rank_part(scorer, toy_split(), "test")
    assert test == {"user_id": "u", "target": "d", "topk": ["d", "e", *FILLERS[:8]], "rank": 1,
                    "pick": None, "pick_listed": None, "pick_lik": None}  # the all-items protocol asks for no pick
    [valid] = rank_part(scorer, toy_split(), "valid")  # seen before valid target c: a, b
    assert valid["topk"][:3] == ["c", "d", "e"] and valid["rank"] == 1
    [kept] = rank_part(scorer, toy_split(), "test", exclude_seen=False)
    assert kept["topk"][:5] == ["a", "b", "c", "d", "e"] and kept["rank"] == 4  # tie with c, c listed first


def test_evaluate_scorer_stores_metrics_and_users(store):
    store.start_run("fixed", dataset="toy", stage="baseline", config={})
    scorer = FixedScores({"a": 5, "b": 4, "c": 3, "d": 1, "e": 2})
    out = evaluate_scorer(store, "fixed", scorer, toy_split(), parts=("test",))
    assert out["test"]["hr@1"] == 0.0 and out["test"]["hr@5"] == 1.0  # d ranked after e
    assert out["test"]["ndcg@5"] == 1 / np.log2(3)
    # d (1) beats the fillers (0) but not e (2) when e is among its sampled candidates
    expected = 0.0 if "e" in sample_candidates(toy_split(), "u") else 1.0
    assert out["test"][CAND_KEY] == expected and store.metrics("fixed", "test")[CAND_KEY] == expected
    assert store.rows("user_results", "run = ?", ["fixed"])[0]["rank"] == 2
