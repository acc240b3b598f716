"""The built corpus: deterministic, mixed by the weights, and free of held-out targets."""
from __future__ import annotations

import json

import pytest

from core.corpus.build import DEFAULT_WEIGHTS, allocate, build_corpus, corpus_info, corpus_path, read_corpus, shares
from core.errors import SidLensError
from core.sid.sidmap import TOKEN_RE


def _build(ds, sm, **kw):
    return build_corpus(ds.name, dataset=ds, sidmap=sm, progress=False, **kw)


def test_same_seed_same_corpus_other_seed_differs(tiny_dataset, tiny_sidmap):
    _build(tiny_dataset, tiny_sidmap, max_examples=400, seed=3)
    first = corpus_path(tiny_dataset.name).read_bytes()
    _build(tiny_dataset, tiny_sidmap, max_examples=400, seed=3)
    assert corpus_path(tiny_dataset.name).read_bytes() == first
    _build(tiny_dataset, tiny_sidmap, max_examples=400, seed=4)
    assert corpus_path(tiny_dataset.name).read_bytes() != first


def test_counts_follow_weights_and_are_recorded(tiny_dataset, tiny_sidmap):
    report = _build(tiny_dataset, tiny_sidmap, max_examples=1000, weights={1: 0.5, 7: 0})
    records = list(read_corpus(tiny_dataset.name))
    actual = {t: sum(r["task"] == t for r in records) for t in range(1, 9)}
    assert actual[7] == 0 and sum(actual.values()) == report.total == 1000
    expected = shares({1: 0.5, 7: 0})
    for task, share in expected.items():
        assert abs(actual[task] / 1000 - share) < 0.002
    assert actual[1] == max(actual.values())
    info = corpus_info(tiny_dataset.name)
    assert info["counts"] == {str(t): n for t, n in actual.items() if n}
    assert info["sid_map_hash"] == tiny_sidmap.hash and info["teacher"] == "metadata"
    assert len(list(read_corpus(tiny_dataset.name, task=2))) == actual[2]


def test_no_held_out_interaction_reaches_a_users_records(tiny_dataset, tiny_sidmap):
    _build(tiny_dataset, tiny_sidmap, max_examples=2000)
    by_sid = {tiny_sidmap.sid_text(i): i for i in tiny_sidmap.codes}
    checked = 0
    for rec in read_corpus(tiny_dataset.name):
        if rec["user_id"] is None:
            continue
        seq = [x.item_id for x in tiny_dataset.sequences[rec["user_id"]]]
        held_out = set(seq[-2:])
        assert rec["item_id"] not in held_out
        text = json.dumps(rec["prompt"][1:] + rec["completion"])  # the system prompt shows an example SID
        tokens = [m.group(0) for m in TOKEN_RE.finditer(text)]
        named = {by_sid["".join(tokens[i:i + 3])] for i in range(0, len(tokens), 3)}
        assert not named & held_out, (rec["task"], named & held_out)
        assert all(tiny_dataset.items[i].title + " " not in text for i in held_out if rec["task"] in (3, 4))
        checked += 1
    assert checked > 1000


def test_reading_refuses_other_sid_map_and_missing_corpus(tiny_dataset, tiny_sidmap):
    with pytest.raises(SidLensError, match="corpus build"):
        corpus_info(tiny_dataset.name)
    _build(tiny_dataset, tiny_sidmap, max_examples=50)
    assert len(list(read_corpus(tiny_dataset.name, sid_map_hash=tiny_sidmap.hash))) == 50
    with pytest.raises(SidLensError, match="built for SID map"):
        next(read_corpus(tiny_dataset.name, sid_map_hash="0" * 16))


def test_bad_weights_and_sizes_are_one_line_errors(tiny_dataset, tiny_sidmap):
    for weights in ({9: 1.0}, {1: -1.0}, {t: 0 for t in DEFAULT_WEIGHTS}):
        with pytest.raises(SidLensError):
            _build(tiny_dataset, tiny_sidmap, max_examples=10, weights=weights)
    with pytest.raises(SidLensError, match="max-examples"):
        _build(tiny_dataset, tiny_sidmap, max_examples=0)


def test_allocate_sums_exactly():
    for total in (1, 7, 999, 50_000):
        counts = allocate(total, shares(None))
        assert sum(counts.values()) == total
        assert counts[1] >= max(counts.values()) and all(c >= 0 for c in counts.values())
