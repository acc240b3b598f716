"""The GRPO rule reward on hand-written completions: every case of the rule, and the text TRL hands over."""
from __future__ import annotations

import pytest

from core.sid.sidmap import SidMap
from core.train.rewards import SidReward, level_reward, parse_answer, score_completion

# three items; item "9" has codes no other item shares beyond level a
SIDMAP = SidMap("toy", "hand", [4, 4, 4], {"1": (1, 2, 3), "2": (1, 2, 0), "3": (1, 0, 3), "9": (3, 3, 3)})


def reward(text: str, target: str = "1") -> float:
    return score_completion(text, target, SIDMAP).reward


@pytest.mark.parametrize("text, expected", [
    ("<think>likes drama</think><a_1><b_2><c_3>", 1.1),          # exact hit on a real item
    ("<think>x</think><a_1><b_2><c_0>", 0.6),                     # levels 1-2, real item 2
    ("<think>x</think><a_1><b_2><c_1>", 0.5),                     # levels 1-2, no such item
    ("<think>x</think><a_1><b_0><c_3>", 0.35),                    # level 1 only, real item 3 (c matches but b did not)
    ("<think>x</think><a_1><b_3><c_3>", 0.25),                    # level 1 only, not an item
    ("<think>x</think><a_3><b_3><c_3>", 0.1),                     # wrong first level, but a real item
    ("<think>x</think><a_0><b_2><c_3>", 0.0),                     # wrong first level, not an item
])
def test_reward_levels(text, expected):
    assert reward(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", [
    "<a_1><b_2><c_3>",                                           # no </think>: the format is part of the task
    "<think>the answer is <a_1><b_2><c_3></think>",               # SID only inside the reasoning
    "<think>x</think>I would say Toy Story",                     # no SID
    "<think>x</think><a_1><b_2>",                                # partial SID
    "<think>x</think><b_2><a_1><c_3>",                           # levels out of order
    "",
])
def test_nothing_parses_scores_zero(text):
    scored = score_completion(text, "1", SIDMAP)
    assert (scored.reward, scored.parsed, scored.exact) == (0.0, False, False)


def test_first_complete_sid_after_think_is_the_answer():
    # a partial SID, then the first complete one (item 2), then the target: the first complete one counts
    text = "<think>Toy Story <a_1><b_2><c_3></think>maybe <a_1> no: <a_1><b_2><c_0> or <a_1><b_2><c_3>"
    assert parse_answer(text, 3) == (1, 2, 0)
    scored = score_completion(text, "1", SIDMAP)
    assert (scored.reward, scored.item_id, scored.exact) == (pytest.approx(0.6), "2", False)
    assert parse_answer("<think>a</think>b</think><a_1><b_2><c_3>", 3) == (1, 2, 3)  # after the FIRST </think>


def test_deeper_maps_cap_partial_matches_below_one():
    assert [level_reward(m, 4) for m in range(5)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [level_reward(m, 3) for m in range(4)] == [0.0, 0.25, 0.5, 1.0]


def test_reward_function_logs_parse_and_hit_shares():
    logged = {}
    completions = ["<think>a</think><a_1><b_2><c_3>", "<think>a</think>none",
                   [{"role": "assistant", "content": "<think>a</think><a_1><b_2><c_0>"}]]
    rewards = SidReward(SIDMAP)(prompts=["p"] * 3, completions=completions, target=["1", "1", "2"],
                                log_metric=lambda name, value: logged.__setitem__(name, value))
    assert rewards == pytest.approx([1.1, 0.0, 1.1])
    assert logged == {"parseable": pytest.approx(2 / 3), "exact": pytest.approx(2 / 3)}


def test_sid_tokens_survive_the_decoding_trl_uses():
    """TRL decodes completions with skip_special_tokens=True: SID tokens are non-special and stay."""
    from core.llm.sid_tokens import add_sid_tokens
    from core.llm.tiny import tiny_model

    model, tokenizer = tiny_model()
    add_sid_tokens(model, tokenizer, SIDMAP)
    ids = tokenizer("<think>\nlikes drama\n</think><a_1><b_2><c_3>", add_special_tokens=False)["input_ids"]
    ids.append(tokenizer.convert_tokens_to_ids("<|im_end|>"))
    text = tokenizer.batch_decode([ids], skip_special_tokens=True)[0]
    assert "<|im_end|>" not in text and text.endswith("</think><a_1><b_2><c_3>")
    assert reward(text) == pytest.approx(1.1)
