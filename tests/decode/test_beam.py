from __future__ import annotations

import math

import pytest
import torch

from core.decode.beam import MIN_SHARED_PREFIX, constrained_topk, hf_constrained_topk
from core.decode.inputs import shared_prefix_length, tokenize_prompts
from core.decode.trie import SidTrie
from core.errors import SidLensError
from core.llm.backbone import load_base
from core.llm.sid_tokens import add_sid_tokens


def items(results):
    return [[r.item_id for r in recs] for recs in results]


def assert_same(a, b, tol=1e-4):
    """Same items in the same order, with the same SIDs, scores and level probabilities."""
    assert items(a) == items(b)
    for recs_a, recs_b in zip(a, b):
        for x, y in zip(recs_a, recs_b):
            assert x.sid == y.sid and x.score == pytest.approx(y.score, abs=tol)
            assert x.level_probs == pytest.approx(y.level_probs, rel=1e-3)


def test_topk_are_real_distinct_sorted_and_not_excluded(toy):
    args = (toy["model"], toy["tokenizer"], toy["trie"], toy["prompts"])
    free = constrained_topk(*args, k=10)
    exclude = [set(h) | {recs[0].item_id, recs[1].item_id} for h, recs in zip(toy["histories"], free)]
    results = constrained_topk(*args, k=10, exclude=exclude)
    for recs, unfiltered, excluded in zip(results, free, exclude):
        assert len(recs) == 10 and len({r.item_id for r in recs}) == 10
        assert all(r.item_id in toy["sidmap"].codes and r.item_id not in excluded for r in recs)
        assert all(toy["sidmap"].sid_text(r.item_id) == r.sid for r in recs)
        scores = [r.score for r in recs]
        assert scores == sorted(scores, reverse=True)
        for r in recs:
            assert len(r.level_probs) == 3 and math.prod(r.level_probs) == pytest.approx(math.exp(r.score), rel=1e-4)
        # excluding items removes them and leaves the order of the others alone
        assert items([recs[:4]]) == [[r.item_id for r in unfiltered if r.item_id not in excluded][:4]]


def test_same_items_and_scores_as_hf_generate(toy):
    exclude = [set(h) for h in toy["histories"]]
    args = (toy["model"], toy["tokenizer"], toy["trie"], toy["prompts"])
    ours = constrained_topk(*args, k=5, num_beams=8, exclude=exclude)
    reference = hf_constrained_topk(*args, k=5, num_beams=8, exclude=exclude)
    assert_same(ours, reference)


def test_batched_equals_one_by_one(toy):
    args = (toy["model"], toy["tokenizer"], toy["trie"])
    batched = constrained_topk(*args, toy["prompts"], k=5, batch_size=3)
    lengths = {len(toy["tokenizer"](p)["input_ids"]) for p in toy["prompts"]}
    assert len(lengths) == 3  # the batch really is padded
    single = [constrained_topk(*args, [p], k=5)[0] for p in toy["prompts"]]
    assert_same(batched, single)
    # two batches reusing one prefilled shared prefix (system prompt and template)
    rows = tokenize_prompts(toy["tokenizer"], toy["prompts"])
    assert shared_prefix_length(rows) >= MIN_SHARED_PREFIX
    assert_same(constrained_topk(*args, toy["prompts"], k=5, batch_size=2), single)
    assert len({tuple(i) for i in items(single)}) > 1  # the prompt matters


def test_tree_shows_the_kept_beams_per_level(toy):
    results, trees = constrained_topk(toy["model"], toy["tokenizer"], toy["trie"], toy["prompts"][1:2], k=3,
                                      num_beams=4, return_tree=True)
    tree = trees[0]
    assert [len(level) for level in tree] == [4, 4, 4]
    assert [n.codes for n in tree[2][:3]] == [toy["sidmap"].sid(r.item_id) for r in results[0]]
    for level in (1, 2):  # every kept prefix extends a prefix kept one level up
        assert {n.codes[:-1] for n in tree[level]} <= {n.codes for n in tree[level - 1]}
    best = results[0][0]
    assert [n.prob for n in tree[0] if n.codes == toy["sidmap"].sid(best.item_id)[:1]] == \
        pytest.approx(best.level_probs[:1])


def test_fewer_items_than_k_and_bad_arguments(toy):
    sidmap, trie = toy["sidmap"], toy["trie"]
    everything_but_two = set(sidmap.codes) - {"1", "2"}
    recs = constrained_topk(toy["model"], toy["tokenizer"], trie, toy["prompts"][:1], k=5,
                            exclude=[everything_but_two])[0]
    assert sorted(r.item_id for r in recs) == ["1", "2"]
    with pytest.raises(SidLensError, match="k <= num_beams"):
        constrained_topk(toy["model"], toy["tokenizer"], trie, toy["prompts"], k=10, num_beams=5)
    with pytest.raises(SidLensError, match="exclude has 1 entries for 3 prompts"):
        constrained_topk(toy["model"], toy["tokenizer"], trie, toy["prompts"], exclude=[set()])
    with pytest.raises(SidLensError, match="batch size must be at least 1"):
        constrained_topk(toy["model"], toy["tokenizer"], trie, toy["prompts"], batch_size=0)
    with pytest.raises(SidLensError, match="empty prompt"):
        constrained_topk(toy["model"], toy["tokenizer"], trie, [""])


@pytest.mark.slow  # the real LM
def test_real_smollm2_matches_hf_generate(helpers):
    """On the real embedded LM (load_base converts the GGUF once if the cache is missing)."""
    torch.manual_seed(0)
    model, tokenizer = load_base()
    sidmap = helpers.toy_sidmap(n_items=120, sizes=(8, 8, 8))
    # text-initialised rows give distinct SID scores (mean-resized rows are all but identical: ties)
    add_sid_tokens(model, tokenizer, sidmap, {i: f"Movie number {i} ({1900 + int(i)})" for i in sidmap.codes})
    trie = SidTrie(sidmap, tokenizer)
    prompt = helpers.history_prompt(tokenizer, sidmap, ["1", "2"])
    ours = constrained_topk(model, tokenizer, trie, [prompt], k=5, exclude=[{"1", "2"}])
    reference = hf_constrained_topk(model, tokenizer, trie, [prompt], k=5, exclude=[{"1", "2"}])
    assert_same(ours, reference)
