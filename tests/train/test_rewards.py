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


def test_grounded_reward_pays_only_clean_reasoning_that_agrees_with_its_answer():
    from core.data.schema import Dataset, Item
    from core.eval.faithfulness import FaithfulnessChecker
    from core.train.rewards import GroundedReward

    items = {"1": Item("1", "Heat", 1995, ("Action", "Crime")), "2": Item("2", "Emma", 1996, ("Romance",)),
             "3": Item("3", "Alien", 1979, ("Horror", "Sci-Fi")), "9": Item("9", "Babe", 1995, ("Children's",))}
    grounded = GroundedReward(FaithfulnessChecker(Dataset("toy", items, {}, {}, {}), SIDMAP), value=0.2)
    heat, emma = SIDMAP.sid_text("1"), SIDMAP.sid_text("2")
    clean = f"<think>The latest is Heat (1995) {heat}, which is Action, Crime. Next they will probably watch a " \
            f"Romance title from the 1990s.</think>{emma}"
    wrong_genre = clean.replace("which is Action, Crime", "which is Horror")
    disagrees = clean.replace(f"</think>{emma}", f"</think>{SIDMAP.sid_text('3')}")  # Alien: Horror, 1970s
    not_seen = clean.replace("Heat (1995)", "Emma (1996)").replace(heat, emma)
    logged = {}
    rewards = grounded(None, [clean, wrong_genre, disagrees, not_seen, clean.replace("</think>", "")], [["1"]] * 5,
                       log_metric=logged.__setitem__)
    assert rewards == [0.2, 0.0, 0.0, 0.0, 0.0] and logged["grounded"] == pytest.approx(0.2)
    # with needs_level the clean reasoning earns the bonus only before an answer that matches the target that far
    tied = GroundedReward(grounded.checker, value=0.2, needs_level=1)
    assert tied(None, [clean] * 2, [["1"]] * 2, target=["3", "9"]) == [0.2, 0.0]  # the answer Emma is <1,2,0>
    assert tied(None, [clean], [["1"]]) == [0.2]  # no target column: as without needs_level


def test_target_likelihood_scores_the_target_sid_after_the_reasoning_alone():
    # the reasoning up to </think> is context, the answer the completion wrote is ignored, the target's SID
    # tokens are scored: their mean token probability, as the plain forward over prompt + reasoning + SID gives
    import math

    import torch

    from core.llm.sid_tokens import add_sid_tokens
    from core.llm.tiny import tiny_model
    from core.train.rewards import LikelihoodReward, target_likelihoods

    model, tokenizer = tiny_model()
    add_sid_tokens(model, tokenizer, SIDMAP)

    def ids(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    prompts = ["First prompt", "First prompt", "Second, longer prompt", "First prompt"]
    completions = ["<think>\nlikes drama\n</think><a_3><b_3><c_3>", "<think>\nx\n</think>",
                   "<think>\nsomething else\n</think><a_1><b_2><c_0>", "<think>\nnever closed"]
    targets = ["1", "2", "1", "1"]
    got = target_likelihoods(model, tokenizer, SIDMAP, prompts, [ids(c) for c in completions], targets)
    assert got[3] is None  # no </think>: nothing to score after
    with torch.no_grad():
        for prompt, completion, target, value in list(zip(prompts, completions, targets, got))[:3]:
            context = ids(prompt) + ids(completion.partition("</think>")[0] + "</think>")
            answer = tokenizer.convert_tokens_to_ids(SIDMAP.sid_tokens(target))
            logp = torch.log_softmax(model(torch.tensor([context + answer])).logits.float(), dim=-1)[0]
            mean = sum(logp[len(context) - 1 + k, t].item() for k, t in enumerate(answer)) / len(answer)
            assert value == pytest.approx(math.exp(mean), rel=1e-3)
    logged = {}
    reward = LikelihoodReward(tokenizer, SIDMAP, 2.0, model=model)
    values = reward(prompts=prompts, completions=completions, completion_ids=[ids(c) for c in completions],
                    target=targets, log_metric=lambda name, value: logged.__setitem__(name, value))
    assert values == pytest.approx([2 * got[0], 2 * got[1], 2 * got[2], 0.0], rel=1e-5)
    assert logged["target_prob"] == pytest.approx(sum(got[:3]) / 3, rel=1e-5)
    with pytest.raises(RuntimeError, match="needs the policy"):
        LikelihoodReward(tokenizer, SIDMAP, 2.0)(prompts=prompts, completions=completions,
                                                 completion_ids=[ids(c) for c in completions], target=targets)
