"""Leave-one-out split on the real ml-100k: counts, ordering, window and no leakage."""
from __future__ import annotations

import pytest

from core.data.schema import Dataset, Interaction, Item
from core.data.split import Split
from core.errors import SidLensError


def test_counts(ml100k):
    split = Split(ml100k)
    assert len(split.examples("test")) == len(split.examples("valid")) == 943
    # One training example per training item after the first: n - 3 per user.
    assert len(split.examples("train")) == sum(len(s) - 3 for s in ml100k.sequences.values())


def test_targets_and_histories_follow_the_sequence(ml100k):
    split = Split(ml100k, window=20)
    tests = {e.user_id: e for e in split.examples("test")}
    valids = {e.user_id: e for e in split.examples("valid")}
    for user_id, seq in ml100k.sequences.items():
        items = [x.item_id for x in seq]
        assert tests[user_id].target == items[-1] and list(tests[user_id].history) == items[:-1][-20:]
        assert valids[user_id].target == items[-2] and list(valids[user_id].history) == items[:-2][-20:]
        assert split.example(user_id, "test") == tests[user_id]
    user_id, items = "1", [x.item_id for x in ml100k.sequences["1"]]
    train = [e for e in split.examples("train") if e.user_id == user_id]
    assert [e.target for e in train] == items[1:-2]
    assert all(list(e.history) == items[max(0, i + 1 - 20):i + 1] for i, e in enumerate(train))


def test_no_leakage(ml100k):
    split = Split(ml100k)
    train_seen: dict[str, set[str]] = {}
    for e in split.examples("train"):
        train_seen.setdefault(e.user_id, set()).update(e.history + (e.target,))
    for e in split.examples("test"):
        assert e.target not in split.train_items(e.user_id)
        assert e.target not in train_seen[e.user_id]
        assert e.target not in split.seen_before(e.user_id, "valid")
    for e in split.examples("valid"):
        assert e.target not in train_seen[e.user_id]


def test_window_and_short_users():
    items = {i: Item(i, f"item {i}") for i in "abcdef"}
    seqs = {"long": [Interaction("long", i, t) for t, i in enumerate("abcdef")],
            "short": [Interaction("short", i, t) for t, i in enumerate("ab")]}
    split = Split(Dataset("toy", items, {}, seqs), window=2)
    assert [e.history for e in split.examples("train")] == [("a",), ("a", "b"), ("b", "c")]
    assert [(e.history, e.target) for e in split.examples("test")] == [(("d", "e"), "f")]
    with pytest.raises(ValueError):
        Split(Dataset("toy", items, {}, seqs), window=0)
    with pytest.raises(SidLensError, match="unknown user 'nobody'"):
        split.example("nobody")
