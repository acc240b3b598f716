"""Reasoning activation on the toy world: the records' format, and a few steps from the SFT adapter
that lower the loss, move the weights and save a checkpoint marked as a reasoning variant."""
from __future__ import annotations

import pytest
from safetensors.torch import load_file

from core.corpus.metadata_teacher import MetadataTeacher
from core.decode.stream import split_sid_chunks
from core.errors import SidLensError
from core.eval.faithfulness import FLAGS, FaithfulnessChecker
from core.llm.adapter import ADAPTER_WEIGHTS, read_meta
from core.llm.prompts import THINK_INSTRUCTION, history_summary
from core.runs import card
from core.train.reason import reasoning_records, settings_for, train_reason


def test_records_think_then_answer_with_the_target_sid(toy_world):
    records = reasoning_records(toy_world.dataset, toy_world.sidmap, MetadataTeacher(), n=4, seed=0, window=5,
                                progress=False)
    assert len(records) == 4 and len({r["user_id"] for r in records}) == 4  # one trace per user
    checker = FaithfulnessChecker(toy_world.dataset, toy_world.sidmap)
    for rec in records:
        user_turn = rec["prompt"][-1]["content"]
        assert user_turn.endswith(THINK_INSTRUCTION.format(noun="movie"))
        completion = rec["completion"][0]["content"]
        reasoning, _, answer = completion.partition("</think>")
        assert reasoning.startswith("<think>\n") and answer == toy_world.sidmap.sid_text(rec["target"])
        # only what the prompt shows: the (windowed) history, each item with its title, year and genres, no ratings
        shown = [i for kind, _, i in split_sid_chunks(user_turn, toy_world.sidmap) if kind == "sid"]
        assert 0 < len(shown) <= 5
        for i in shown:
            item = toy_world.dataset.items[i]
            assert f"{item.dated_title} {toy_world.sidmap.sid_text(i)}: {', '.join(item.genres)}" in user_turn
        assert f"{history_summary(toy_world.dataset, shown)}\n" in user_turn  # the counts the traces copy
        assert "rated" not in reasoning and "enjoy" not in reasoning
        assert checker.flags(reasoning, shown) == {flag: [] for flag in FLAGS}
        named = [i for kind, _, i in split_sid_chunks(reasoning, toy_world.sidmap) if kind == "sid"]
        assert set(named) <= set(shown)  # the target is named by the SID after </think>, not inside
    again = reasoning_records(toy_world.dataset, toy_world.sidmap, MetadataTeacher(), n=4, seed=0, window=5,
                              progress=False)
    assert again == records
    bare = reasoning_records(toy_world.dataset, toy_world.sidmap, MetadataTeacher(), n=4, seed=0, window=5,
                             history="sid", progress=False)
    for rec in bare:  # the paper's SID-only prompt: the same history, no titles
        user_turn = rec["prompt"][-1]["content"]
        assert not any(toy_world.dataset.items[i].title in user_turn for i in toy_world.dataset.items)


def test_reason_steps_lower_the_loss_and_save_a_think_checkpoint(toy_world, store):
    settings = settings_for("quick", examples=6, max_steps=12, batch_size=3, learning_rate=3e-2, warmup_steps=0,
                            logging_steps=1, save_steps=1000)
    record = train_reason(settings, store)
    assert record["steps"] == 12 and record["parent"] == "sft"
    losses = [r["value"] for r in store.rows("run_logs", "run = 'reason' and key = 'loss'", order_by="step")]
    assert len(losses) == 12 and record["loss_first"] == losses[0]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.15  # a random 2-layer model learns slowly, but steadily
    shipped_losses = [r["value"] for r in card.read_logs(settings.out_dir, "reason") if r["key"] == "loss"]
    assert shipped_losses == losses  # the curve is shipped with the adapter
    meta = read_meta(settings.out_dir)
    assert meta["think"] is True and meta["stage"] == "reason" and meta["parent"] == "sft" and meta["history"] == "summary"
    before, after = load_file(toy_world.sft / ADAPTER_WEIGHTS), load_file(settings.out_dir / ADAPTER_WEIGHTS)
    assert before.keys() == after.keys()
    moved = [k for k in before if not before[k].equal(after[k])]
    assert any("lora" in k for k in moved) and any("trainable_tokens" in k for k in moved)
    run = store.run("reason")
    assert run["stage"] == "reason" and run["parent"] == "sft" and run["status"] == "done"


def test_bad_settings_are_one_line_errors():
    with pytest.raises(SidLensError, match="preset"):
        settings_for("huge")
    with pytest.raises(SidLensError, match="--examples"):
        settings_for("quick", examples=0)
