"""Explaining one recommendation: occlusion attribution matches scoring each edited prompt alone, and
the what-if diff names every move."""
from __future__ import annotations

import pytest
import torch

from core.data.schema import Dataset, Item
from core.errors import SidLensError
from core.explain import (
    MAX_GROUP,
    agreement,
    diff_top,
    edit_history,
    group_advantages,
    leave_one_out,
    pinned_change,
    sample_group,
    sid_beliefs,
)
from core.llm.prompts import render_prompt, variant_messages
from core.llm.sid_tokens import add_sid_tokens
from core.llm.tiny import tiny_model
from core.sid.sidmap import SidMap

SIDMAP = SidMap("toy", "random", [4, 4, 4], {str(i): (i % 4, (i // 4) % 4, (i // 16) % 4) for i in range(30)})
DATASET = Dataset("toy", {str(i): Item(str(i), f"Film {i}", 1990 + i % 10, ("Drama",) if i % 2 else ("Comedy",))
                          for i in range(30)}, {}, {}, {"item_noun": "movie"})


@pytest.fixture(scope="module")
def lm():
    model, tokenizer = tiny_model(seed=1)
    torch.manual_seed(1)
    add_sid_tokens(model, tokenizer, SIDMAP)
    return model, tokenizer


def _alone(model, tokenizer, prompt: str, item: str) -> float:
    """log p(item's SID | prompt) from one unpadded forward over prompt + SID."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer = tokenizer(SIDMAP.sid_text(item), add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt_ids + answer])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
    return sum(logp[len(prompt_ids) - 1 + j, t].item() for j, t in enumerate(answer))


@pytest.mark.parametrize("reasoning", ["", "<think>\nThey like dramas.\n</think>"])
def test_each_effect_is_the_score_lost_without_that_item(lm, reasoning):
    model, tokenizer = lm
    meta = {"window": 5, "think": bool(reasoning), "history": "facts"}
    history = ["1", "2", "3", "4", "5", "6", "7"]  # the first two are outside the window
    result = leave_one_out(model, tokenizer, meta, SIDMAP, DATASET, history, "9", reasoning=reasoning)

    def prompt(h):
        return render_prompt(tokenizer, variant_messages(meta, SIDMAP, DATASET, h)[0]) + reasoning

    shown = history[2:]
    assert result.left_out_of == 2 and result.held_fixed == ("reasoning" if reasoning else "nothing")
    assert result.logp == pytest.approx(_alone(model, tokenizer, prompt(shown), "9"), abs=1e-4)
    assert sorted(e.position for e in result.effects) == [2, 3, 4, 5, 6]
    for e in result.effects:
        without = [i for i in shown if i != e.item_id]
        assert history[e.position] == e.item_id
        assert e.effect == pytest.approx(result.logp - _alone(model, tokenizer, prompt(without), "9"), abs=1e-4)
    sizes = [abs(e.effect) for e in result.effects]
    assert sizes == sorted(sizes, reverse=True)


def test_attribution_refuses_what_it_cannot_explain(lm):
    model, tokenizer = lm
    with pytest.raises(SidLensError, match="at least two items"):
        leave_one_out(model, tokenizer, {}, SIDMAP, DATASET, ["1"], "2")
    with pytest.raises(SidLensError, match="empty history"):
        leave_one_out(model, tokenizer, {}, SIDMAP, DATASET, [], "2")
    with pytest.raises(SidLensError, match="no SID"):
        leave_one_out(model, tokenizer, {}, SIDMAP, DATASET, ["1", "3"], "999")


def test_what_if_diff_names_new_gone_and_moves():
    before, after = ["a", "b", "c", "d"], ["c", "a", "e", "b"]
    moves = {m.item_id: m.change for m in diff_top(before, after)}
    assert moves == {"c": "up 2", "a": "down 1", "e": "new", "b": "down 2", "d": "gone"}
    assert [m.item_id for m in diff_top(before, after)] == ["c", "a", "e", "b", "d"]
    assert pinned_change(before, after, "d").change == "gone" and pinned_change(before, after, "a").after == 2
    assert pinned_change(before, before, "b").change == "same"


def test_edited_history_removes_moves_then_adds():
    history = ["a", "b", "c", "d"]
    assert edit_history(history, remove=["b"], add=["e", "a", "e"], move_to_latest="a") == ["c", "d", "a", "e"]
    assert edit_history(history, move_to_latest="b") == ["a", "c", "d", "b"]
    assert edit_history(history, remove=["a"], move_to_latest="a") == ["b", "c", "d"]
    assert edit_history(history) == history


def test_sid_beliefs_report_the_models_own_answers(lm):
    from core.corpus.facts import PROMPTS
    from core.eval.alignment import greedy_lines

    model, tokenizer = lm
    beliefs = sid_beliefs(model, tokenizer, DATASET, SIDMAP, ["3", "999", "5", "3"])
    assert [b.item_id for b in beliefs] == ["3", "5"]  # unknown ids dropped, duplicates once
    said = greedy_lines(model, tokenizer, [PROMPTS["sid->title"].format(sid=SIDMAP.sid_text(i)) for i in ("3", "5")])
    assert [b.believed for b in beliefs] == said
    assert beliefs[0].title == "Film 3 (1993)" and beliefs[0].right == (said[0].strip().lower() == "film 3 (1993)")
    assert sid_beliefs(model, tokenizer, DATASET, SIDMAP, ["999"]) == []


def test_group_advantages_match_trl():
    from trl.trainer.utils import nanstd

    rewards = [0.0, 0.35, 1.1, 0.0, 0.25, 0.35]
    t = torch.tensor(rewards)
    expected = ((t - t.mean()) / (nanstd(t) + 1e-4)).tolist()
    assert group_advantages(rewards) == pytest.approx(expected, abs=1e-5)
    assert group_advantages([0.1, 0.1, 0.1]) == pytest.approx([0.0, 0.0, 0.0], abs=1e-9)  # all-equal: no signal


def test_sampled_group_is_seeded_and_scored_by_the_grpo_reward(lm):
    from core.train.rewards import score_completion

    model, tokenizer = lm
    prompt = render_prompt(tokenizer, variant_messages({"think": True}, SIDMAP, DATASET, ["1", "2"])[0])
    group = sample_group(model, tokenizer, prompt, SIDMAP, "5", group_size=4, max_new_tokens=12, seed=3)
    assert len(group) == 4 and len({g.completion for g in group}) > 1  # sampled, not greedy
    assert [g.completion for g in sample_group(model, tokenizer, prompt, SIDMAP, "5", group_size=4,
                                               max_new_tokens=12, seed=3)] == [g.completion for g in group]
    for g in group:
        assert g.reward == score_completion(g.completion, "5", SIDMAP).reward
        assert g.completion.startswith(g.reasoning) and "</think>" not in g.reasoning
    assert [g.advantage for g in group] == pytest.approx(group_advantages([g.reward for g in group]))
    assert all(g.grounded is None for g in group)
    # with the grounding reward: the same samples, each reward raised by the bonus exactly where it is grounded
    from core.eval.faithfulness import FaithfulnessChecker
    from core.train.rewards import GroundedReward

    grounding = GroundedReward(FaithfulnessChecker(DATASET, SIDMAP), 0.5)
    bonus = sample_group(model, tokenizer, prompt, SIDMAP, "5", group_size=4, max_new_tokens=12, seed=3,
                         grounded_by=grounding, history=["1", "2"])
    assert [b.completion for b in bonus] == [g.completion for g in group]
    for b, g in zip(bonus, group):
        assert (b.flags, b.grounded) == grounding.check(b.completion, ["1", "2"])
        assert b.reward == pytest.approx(g.reward + (0.5 if b.grounded else 0.0))
    # a bonus of 0 (the outcome-only reward): flags still checked for the page, no bonus judged
    plain = sample_group(model, tokenizer, prompt, SIDMAP, "5", group_size=4, max_new_tokens=12, seed=3,
                         grounded_by=GroundedReward(grounding.checker, 0.0), history=["1", "2"])
    assert [p.flags for p in plain] == [b.flags for b in bonus] and all(p.grounded is None for p in plain)
    assert [p.reward for p in plain] == [g.reward for g in group]
    # with the likelihood reward: the same samples, each raised by 2 x its target SID probability after the
    # reasoning (None, nothing added, where the reasoning never closed)
    from core.train.rewards import target_likelihoods

    dense = sample_group(model, tokenizer, prompt, SIDMAP, "5", group_size=4, max_new_tokens=12, seed=3, likelihood=2.0)
    assert [d.completion for d in dense] == [g.completion for g in group]
    assert all(g.target_prob is None for g in group)
    closed = [think + "</think><a_1><b_1><c_1>" for think in ("<think>\nok\n", "<think>\nelse\n")]
    probs = target_likelihoods(model, tokenizer, SIDMAP, [prompt] * 2,
                               [tokenizer(c, add_special_tokens=False)["input_ids"] for c in closed], ["5", "5"])
    assert all(0 < p < 1 for p in probs) and probs[0] != probs[1]
    for d, g in zip(dense, group):
        assert (d.target_prob is None) == ("</think>" not in d.completion)
        assert d.reward == pytest.approx(g.reward + 2.0 * (d.target_prob or 0.0))
    for bad in (0, 1, MAX_GROUP + 1):
        with pytest.raises(SidLensError, match="group size must be between 2 and 16"):
            sample_group(model, tokenizer, prompt, SIDMAP, "5", group_size=bad)
    with pytest.raises(SidLensError, match="no SID"):
        sample_group(model, tokenizer, prompt, SIDMAP, "999")


def test_agreement_of_variants_on_one_history():
    topks = {"sft": ["1", "2", "3"], "grpo": ["5", "2", "1"], "dpo": ["9", "1", "4"]}
    got = agreement(topks, SIDMAP)
    assert got["overlap"] == [{"a": "sft", "b": "grpo", "shared": 2}, {"a": "sft", "b": "dpo", "shared": 1},
                              {"a": "grpo", "b": "dpo", "shared": 1}]
    assert got["common"] == ["1"] and got["level1"] == {"sft": 1, "grpo": 1, "dpo": 1} and got["same_level1"]
    assert not agreement({"sft": ["1"], "grpo": ["2"]}, SIDMAP)["same_level1"]  # codes 1 and 2 at level 1
