import json
import math

import pytest
import torch

from core.errors import SidLensError
from core.labels import export_jsonl, preference_pairs, save_label
from core.llm.adapter import load_checkpoint
from core.store import Store
from core.train.preference import dpo_settings, sdpo_settings, train_preference
from core.train.preference_loop import run_loop
from core.train.preference_plan import PlanRow, candidate_plan, pair_plan, reference_logps, response_ids


def lora_weights(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def item_rows(world, tokenizer, every: int, negatives: int, seed: int) -> list[PlanRow]:
    """4 plan rows: every `every`-th training example of the toy world, its target and random negatives."""
    from core.data.split import Split
    from core.llm.prompts import recommendation_messages, render_prompt
    from core.train.negatives import random_negatives

    split = Split(world.dataset, window=5)
    examples = split.examples("train")[::every][:4]
    drawn = random_negatives(split, examples, negatives, seed=seed)
    return [PlanRow(render_prompt(tokenizer, recommendation_messages(world.sidmap, world.dataset, ex.history)[0]),
                    tuple(response_ids(tokenizer, world.sidmap.sid_tokens(i)) for i in (ex.target, *negs)),
                    (ex.target, *negs)) for ex, negs in zip(examples, drawn)]


@pytest.mark.parametrize("bf16", [False, True])
def test_a_few_steps_lower_the_loss_and_move_the_lora_weights(toy_world, bf16):
    policy, tokenizer, _ = load_checkpoint(toy_world.sft, toy_world.sidmap, merge=False)
    # the same batch every step, so the loss curve is comparable; the reference is the step-0 policy
    plan = item_rows(toy_world, tokenizer, every=7, negatives=3, seed=0) * 8
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        ref = reference_logps(policy, tokenizer, plan, batch_size=4, progress=False)
    before = lora_weights(policy)
    settings = sdpo_settings(negatives=3, max_steps=8, batch_size=4, learning_rate=5e-3, warmup_steps=0, run="t")
    logs = run_loop(policy, tokenizer, plan, ref, settings, progress=False, bf16=bf16)["logs"]

    assert len(logs) == 8
    assert logs[0]["loss"] == pytest.approx(math.log(4), abs=1e-3)  # policy == reference at the start
    assert logs[-1]["loss"] < logs[0]["loss"] - 0.1
    assert logs[-1]["margin"] > logs[0]["margin"] and logs[-1]["rewards_chosen"] > 0
    after = lora_weights(policy)
    moved = [n for n in before if not torch.equal(before[n], after[n])]
    assert any("lora_A" in n for n in moved) and any("lora_B" in n for n in moved)
    assert any("token_adapter" in n for n in moved)  # the SID rows train too


def test_under_bf16_no_autocast_context_outlives_a_step(toy_world, monkeypatch):
    """autocast caches its bf16 copy of each trainable weight until its context exits, so a loop run
    inside ONE autocast context forwarded the step-0 LoRA weights at every step while the fp32 weights
    moved (measured on the real sft: the logged margin stayed ~0 while the saved adapter's was 0.9).
    Each forward gets its own context: at every optimizer step autocast is off again. (The toy model's
    SID logits barely depend on its LoRA, so the stale forward does not show in its loss.)"""
    seen = []
    step = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        seen.append(torch.is_autocast_enabled("cpu"))
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)
    policy, tokenizer, _ = load_checkpoint(toy_world.sft, toy_world.sidmap, merge=False)
    plan = item_rows(toy_world, tokenizer, every=7, negatives=1, seed=0) * 2
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref = reference_logps(policy, tokenizer, plan, batch_size=4, progress=False)
    settings = dpo_settings(max_steps=2, batch_size=4, learning_rate=1e-3, warmup_steps=0, run="t", micro_batch=2)
    run_loop(policy, tokenizer, plan, ref, settings, progress=False, bf16=True)
    assert seen == [False, False]


def test_micro_batches_make_the_same_update(toy_world):
    """--micro-batch accumulates the batch's gradient over smaller passes: the same step, the same logs."""
    reference, tokenizer, _ = load_checkpoint(toy_world.sft, toy_world.sidmap, merge=True)
    plan = item_rows(toy_world, tokenizer, every=5, negatives=2, seed=1)
    ref = reference_logps(reference, tokenizer, plan, batch_size=4, progress=False)
    deltas, logs = {}, {}
    for micro in (0, 1, 3):
        policy, tokenizer, _ = load_checkpoint(toy_world.sft, toy_world.sidmap, merge=False)
        before = lora_weights(policy)
        settings = sdpo_settings(negatives=2, max_steps=1, batch_size=4, learning_rate=5e-3, warmup_steps=0,
                                 run="t", micro_batch=micro)
        logs[micro] = run_loop(policy, tokenizer, plan, ref, settings, progress=False)["logs"][0]
        after = lora_weights(policy)
        deltas[micro] = torch.cat([(after[n] - before[n]).flatten() for n in before])
    assert deltas[0].abs().max() > 0
    for micro in (1, 3):  # 3 leaves a part of one prompt: parts are weighted by their size
        assert torch.nn.functional.cosine_similarity(deltas[0], deltas[micro], dim=0) > 0.99
        assert (deltas[0] - deltas[micro]).norm() < 0.05 * deltas[0].norm()
        assert logs[micro]["loss"] == pytest.approx(logs[0]["loss"], rel=1e-3)
    with pytest.raises(SidLensError, match="micro-batch"):
        dpo_settings(micro_batch=-1)


def test_sdpo_command_saves_a_loadable_adapter_and_registers_the_run(toy_world, capsys):
    from core.cli import main

    assert main(["train", "sdpo", "--from", "sft", "--negatives", "2", "--sampler", "popularity", "--max-steps", "3",
                 "--batch-size", "2", "--learning-rate", "1e-3", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    store = Store()
    run = store.run("sdpo")
    assert run["stage"] == "sdpo" and run["parent"] == "sft" and run["status"] == "done"
    assert record["steps"] == 3 and record["negatives"] == 2 and record["sampler"] == "popularity"
    logs = store.rows("run_logs", "run = ?", ["sdpo"])
    assert {r["key"] for r in logs} >= {"loss", "rewards_chosen", "rewards_rejected", "reward_accuracy", "margin"}
    assert {r["step"] for r in logs} == {1, 2, 3}
    folder = toy_world.checkpoints / "sdpo"
    assert json.loads((folder / "run.json").read_text())["parent"] == "sft"
    trained, tokenizer, meta = load_checkpoint(folder, toy_world.sidmap)
    sft, _, _ = load_checkpoint(toy_world.sft, toy_world.sidmap)
    ids = tokenizer("<a_1><b_2>", return_tensors="pt").input_ids
    with torch.no_grad():
        assert not torch.allclose(trained(ids).logits, sft(ids).logits)
    assert meta["stage"] == "sdpo" and meta["parent"] == "sft"


def test_candidate_protocol_plan_draws_negatives_from_the_listed_candidates(toy_world):
    from core.decode.stream import split_sid_chunks

    _, tokenizer, meta = load_checkpoint(toy_world.sft, toy_world.sidmap, merge=True)
    settings = sdpo_settings(protocol="candidates", negatives=15, max_steps=2, batch_size=3)
    plan = candidate_plan(tokenizer, toy_world.sidmap, toy_world.dataset, meta, settings, 6)
    assert len(plan) == 6
    for row in plan:
        listed = row.prompt.split("Candidate movies:")[1]
        candidates = [i for kind, _, i in split_sid_chunks(listed, toy_world.sidmap) if kind == "sid"]
        target, negatives = row.labels[0], row.labels[1:]
        assert len(candidates) == 20 and target in candidates and len(set(negatives)) == 15
        assert set(negatives) <= set(candidates) - {target}
        seen = {x.item_id for x in toy_world.dataset.sequences[row.user_id]}
        assert not (set(candidates) - {target}) & seen  # the other candidates are items the user never saw
    assert candidate_plan(tokenizer, toy_world.sidmap, toy_world.dataset, meta, settings, 6) == plan  # seeded
    with pytest.raises(SidLensError, match="needs 21 candidates"):
        sdpo_settings(protocol="candidates", negatives=20)
    with pytest.raises(SidLensError, match="neither --pairs nor --sampler"):
        sdpo_settings(protocol="candidates", sampler="popularity")


def test_candidate_protocol_run_logs_the_chosen_log_prob(toy_world, capsys):
    from core.cli import main
    from core.llm.adapter import read_meta

    assert main(["train", "sdpo", "--from", "sft", "--negatives", "3", "--protocol", "candidates", "--max-steps", "2",
                 "--batch-size", "2", "--learning-rate", "1e-3", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["protocol"] == "candidates" and record["negatives"] == 3
    assert read_meta(toy_world.checkpoints / "sdpo")["protocol"] == "candidates"
    logs = Store().rows("run_logs", "run = ? and key = 'logp_chosen'", ["sdpo"])
    assert [r["step"] for r in logs] == [1, 2] and all(r["value"] < 0 for r in logs)


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_the_chosen_precision_scores_reference_and_policy_alike(toy_world, capsys, dtype):
    """--dtype reaches the loop and the reference: the reference is the step-0 policy computed the same
    way, so the first loss is log(1 + K) in either precision. (The toy adapter is too small for a merged
    copy to be off by rounding, so this does not catch that; it was measured on the real sft instead.)"""
    from core.cli import main

    assert main(["train", "dpo", "--from", "sft", "--protocol", "candidates", "--max-steps", "1", "--batch-size", "2",
                 "--dtype", dtype, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["precision"] == dtype
    assert record["loss_first"] == pytest.approx(math.log(2), abs=1e-4)


def test_chosen_nll_is_the_mean_per_token_nll_and_the_sft_weight_is_logged(toy_world, capsys):
    from core.cli import main
    from core.train.preference_loop import chosen_nll

    rows = [PlanRow("p", ((1, 2, 3, 4), (5, 6, 7, 8)), ("a", "b")), PlanRow("q", ((1, 2), (3, 4)), ("c", "d"))]
    assert chosen_nll(torch.tensor([-4.0, -1.0]), rows).item() == pytest.approx((1.0 + 0.5) / 2)
    assert main(["train", "dpo", "--from", "sft", "--protocol", "candidates", "--max-steps", "2", "--batch-size", "2",
                 "--sft-weight", "1", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["settings"]["sft_weight"] == 1.0
    logs = Store().rows("run_logs", "run = ? and key = 'nll_chosen'", ["dpo"])
    assert [r["step"] for r in logs] == [1, 2] and all(r["value"] > 0 for r in logs)


def labeled_pairs_file(tmp_path, store: Store):
    """Two traces of one prompt labeled by two annotators, exported the way the app's Label page does."""
    prompt = "<|im_start|>user\nRecommend<|im_end|>\n<|im_start|>assistant\n"
    for tid, text, sid, quality in [("t1", "<think>comedies</think>", "<a_1><b_2><c_3>", 5),
                                    ("t2", "<think>anything</think>", "<a_4><b_0><c_1>", 2)]:
        store.upsert("traces", {"id": tid, "run": "reason", "prompt": prompt, "reasoning": text,
                                "topk": [{"sid": sid, "item_id": "1"}], "source": "eval"})
        save_label(store, tid, "ann", quality, {})
    path = tmp_path / "pairs.jsonl"
    path.write_text(export_jsonl(preference_pairs(store)))
    return path, prompt


def test_pairs_file_from_the_label_page_round_trips_into_dpo(toy_world, tmp_path):
    from core.llm.sid_tokens import add_sid_tokens
    from core.llm.tiny import tiny_model

    path, prompt = labeled_pairs_file(tmp_path, Store())
    model, tokenizer = tiny_model()
    add_sid_tokens(model, tokenizer, toy_world.sidmap)
    plan = pair_plan(str(path), tokenizer, n=3, seed=0)
    assert [r.prompt for r in plan] == [prompt] * 3
    chosen, rejected = (tokenizer.decode(ids) for ids in plan[0].responses)
    assert chosen == "<think>comedies</think><a_1><b_2><c_3>" + tokenizer.eos_token
    assert rejected == "<think>anything</think><a_4><b_0><c_1>" + tokenizer.eos_token

    record = train_preference(dpo_settings(pairs=str(path), max_steps=2, batch_size=1, learning_rate=1e-3))
    assert record["sampler"] == "pairs" and record["steps"] == 2
    assert record["loss_first"] == pytest.approx(math.log(2), abs=1e-3)


def test_labeled_pairs_of_a_reasoning_variant_keep_it_reasoning(toy_world, tmp_path):
    """DPO on a reasoning variant's labeled traces (the closed labeling loop) yields a reasoning variant
    (its prompts ask to think first, so evaluation must too); sampled SID negatives are refused for it."""
    import shutil

    from core.llm.adapter import META_FILE, read_meta
    from core.runs import card

    reason = toy_world.checkpoints / "reason"
    shutil.copytree(toy_world.sft, reason)
    meta = json.loads((reason / META_FILE).read_text())
    (reason / META_FILE).write_text(json.dumps({**meta, "run": "reason", "stage": "reason", "think": True}))
    card.write_run(reason, {"run": "reason", "stage": "reason", "parent": "sft", "dataset": "amazon-toy"})
    path, _ = labeled_pairs_file(tmp_path, Store())
    train_preference(dpo_settings(from_run="reason", run="reason-labeled", pairs=str(path), max_steps=1, batch_size=1))
    assert read_meta(toy_world.checkpoints / "reason-labeled")["think"] is True
    assert "think" not in read_meta(toy_world.sft)
    with pytest.raises(SidLensError, match="reasons before its answer"):
        train_preference(dpo_settings(from_run="reason", run="reason-sampled", max_steps=1, batch_size=1))


def test_settings_a_user_can_get_wrong_are_refused(capsys):
    from core.cli import main

    assert main(["train", "dpo", "--negatives", "3"]) == 2
    assert capsys.readouterr().err.strip() == "error: dpo trains with one negative: use `train sdpo --negatives K` for more"
    with pytest.raises(SidLensError, match="one negative"):
        dpo_settings(negatives=3)
    with pytest.raises(SidLensError, match="pairs"):
        sdpo_settings(pairs="p.jsonl")
    with pytest.raises(SidLensError, match="sampler"):
        sdpo_settings(sampler="nearest")
    with pytest.raises(SidLensError, match="preset"):
        sdpo_settings("huge")
    assert sdpo_settings().negatives == 3 and dpo_settings().negatives == 1
    with pytest.raises(SidLensError, match="--sft-weight"):
        dpo_settings(sft_weight=-1.0)


def test_unknown_parent_run_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SIDLENS_CHECKPOINTS", str(tmp_path))
    with pytest.raises(SidLensError, match="unknown run 'nope'"):
        train_preference(sdpo_settings(from_run="nope", max_steps=1))
