"""Training-only statistics: held-out interactions never reach rating counts or co-watching."""
from __future__ import annotations

from core.corpus.context import CorpusContext
from core.data.schema import Dataset, Interaction, Item, User


def _dataset(sequences: dict[str, list[tuple[str, float]]]) -> Dataset:
    items = {i: Item(i, f"T{i}", 1990, ("Drama",)) for seq in sequences.values() for i, _ in seq}
    return Dataset("hand", items, {u: User(u) for u in sequences},
                   {u: [Interaction(u, i, t, r) for t, (i, r) in enumerate(seq)] for u, seq in sequences.items()})


def test_rating_stats_and_cowatch_use_training_interactions_only(sidmap_for):
    # user 1: train A B C, valid D, test E; user 2: train A B, valid C, test D
    ds = _dataset({"1": [("1", 5), ("2", 3), ("3", 4), ("4", 1), ("5", 2)],
                   "2": [("1", 3), ("2", 5), ("3", 2), ("4", 2)]})
    ctx = CorpusContext(ds, sidmap_for(ds), cowatch_window=1)
    assert ctx.rating_stats["1"] == (4.0, 2)
    assert ctx.rating_stats["3"] == (4.0, 1)          # user 2's rating of item 3 is a validation interaction
    assert "4" not in ctx.rating_stats and "5" not in ctx.rating_stats
    assert ctx.cowatched("1") == ["2"]                # neighbours within one position, both users
    assert ctx.cowatched("3") == ["2"]                # 3-4 (user 1) is held out
    assert ctx.cowatched("5") == []
    assert ctx.popularity_rank["1"] == 0.0 and ctx.popularity_rank["3"] == 1.0


def test_history_facts_counts_genres_and_splits_likes(tiny_context):
    user = "3"
    history = tiny_context.split.train_items(user)[:6]
    facts = tiny_context.history_facts(user, history)
    ratings = tiny_context.user_ratings(user)
    assert sum(n for _, n in facts.genres) == sum(len(tiny_context.dataset.items[i].genres) for i in history)
    assert all(ratings[i] >= 4 for i in facts.liked) and all(ratings[i] <= 2 for i in facts.disliked)
    assert set(facts.liked) | set(facts.disliked) <= set(history)
    assert abs(facts.mean_rating - sum(ratings[i] for i in history) / len(history)) < 1e-9
