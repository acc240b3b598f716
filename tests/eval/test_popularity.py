from collections import Counter

from core.data.schema import Dataset, Interaction, Item
from core.data.split import Split
from core.eval.popularity import Popularity, run_popularity
from core.eval.ranking import CAND_KEY, rank_part


def test_counts_come_from_training_parts_only(ml100k_split):
    pop = Popularity(ml100k_split)
    train = Counter(i for u in ml100k_split.sequences for i in ml100k_split.train_items(u))
    everything = Counter(i for seq in ml100k_split.sequences.values() for i in seq)
    assert dict(zip(pop.item_ids, pop.counts)) == {i: float(train.get(i, 0)) for i in pop.item_ids}
    assert any(train.get(i, 0) != everything[i] for i in pop.item_ids)


def test_item_seen_only_as_valid_or_test_target_has_no_popularity():
    items = {i: Item(i, i) for i in "abcxy"}
    seqs = {u: [Interaction(u, i, t) for t, i in enumerate(seq)]
            for u, seq in {"1": "abxy", "2": "bax", "3": "cbyx"}.items()}
    pop = Popularity(Split(Dataset("toy", items, {}, seqs)))  # train parts: ab, b, cb
    assert dict(zip(pop.item_ids, pop.counts)) == {"a": 1, "b": 3, "c": 1, "x": 0, "y": 0}


def test_rankings_never_include_seen_items(ml100k_split):
    for part in ("valid", "test"):
        rows = rank_part(Popularity(ml100k_split), ml100k_split, part)
        assert len(rows) == 943
        for row in rows:
            assert len(row["topk"]) == 10
            assert not set(row["topk"]) & ml100k_split.seen_before(row["user_id"], part)
    kept = rank_part(Popularity(ml100k_split), ml100k_split, "test", exclude_seen=False)
    assert len({tuple(r["topk"]) for r in kept}) == 1  # without exclusion everyone gets the same list


def test_run_popularity_stores_a_baseline_run(store, ml100k_split):
    out = run_popularity(store, ml100k_split)
    run = store.run("popularity")
    assert run["stage"] == "baseline" and run["status"] == "done" and run["config"]["exclude_seen"] is True
    test = store.metrics("popularity", "test")
    assert test == out["test"] and set(test) == {"hr@1", "hr@5", "hr@10", "ndcg@1", "ndcg@5", "ndcg@10", CAND_KEY}
    assert 0 < test["hr@1"] <= test["hr@5"] <= test["hr@10"] < 0.5
    assert len(store.rows("user_results", "run = ? and split = ?", ["popularity", "valid"])) == 943
