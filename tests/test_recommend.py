"""One recommendation step by step on the tiny model: prompt, stream, constrained top-10."""
from __future__ import annotations

import math

import pytest

from core import recommend
from core.data.registry import load_dataset
from core.decode.trie import SidTrie
from core.llm.sid_tokens import add_sid_tokens
from core.llm.tiny import tiny_model
from core.sid.sidmap import SidMap


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("SIDLENS_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    dataset = load_dataset("ml-100k")
    mp.undo()
    ids = sorted(dataset.items, key=int)[:150]
    sidmap = SidMap("ml-100k", "test", [8, 8, 3], {i: (n % 8, n // 8 % 8, n // 64) for n, i in enumerate(ids)})
    model, tokenizer = tiny_model()
    add_sid_tokens(model, tokenizer, sidmap)
    return dataset, sidmap, model, tokenizer, SidTrie(sidmap, tokenizer)


def test_prompt_follows_the_checkpoint(setup):
    dataset, sidmap, _, tokenizer, _ = setup
    history = [str(i) for i in range(1, 31)]
    direct, notes = recommend.prompt_for(tokenizer, {"window": 20}, sidmap, dataset, history)
    think, _ = recommend.prompt_for(tokenizer, {"window": 20, "think": True}, sidmap, dataset, history, "age 30")
    assert notes == ["history of 30 items truncated to the last 20"]
    assert "<think>" in think and "<think>" not in direct and "User profile: age 30." in think
    assert sidmap.sid_text("11") in direct and sidmap.sid_text("10") not in direct  # only the last 20 kept
    assert direct.endswith("assistant\n")


def test_stream_then_rank_excludes_the_history(setup):
    dataset, sidmap, model, tokenizer, trie = setup
    history = ["1", "2", "3"]
    prompt, _ = recommend.prompt_for(tokenizer, {}, sidmap, dataset, history)
    text = "".join(recommend.stream(model, tokenizer, prompt, max_new_tokens=6))
    assert 0 < recommend.token_count(tokenizer, text) <= 6
    top, tree = recommend.rank(model, tokenizer, trie, prompt, text, history)
    assert len(top) == 10 and len({r["item_id"] for r in top}) == 10 and not {r["item_id"] for r in top} & set(history)
    for r in top:
        assert r["sid"] == sidmap.sid_text(r["item_id"])
        assert math.isclose(math.prod(r["level_probs"]), math.exp(r["score"]), rel_tol=1e-4)
    assert len(tree) == sidmap.levels and [len(n.codes) for n in tree[2]] == [3] * len(tree[2])
    unclosed, _ = recommend.rank(model, tokenizer, trie, prompt, "<think>likes old films", history)
    assert [r["item_id"] for r in unclosed] != [r["item_id"] for r in top]  # searched after the closed reasoning


def test_decode_rate_leaves_out_the_prefill():
    assert recommend.decode_rate(11, 3.0, 1.0) == 5.0
    assert recommend.decode_rate(1, 3.0, 1.0) == 0.0 and recommend.decode_rate(5, 1.0, 1.0) == 0.0
