"""GRPO end to end on the toy world: a reasoning checkpoint that already writes `<think>...</think>`
and a SID (so rewards differ within a group and gradients are non-zero), two TRL GRPO steps, the
per-step logs, the exact reference (first-step KL 0), moved weights and the saved adapter."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from core.errors import SidLensError
from core.llm.adapter import ADAPTER_WEIGHTS, read_meta, save_checkpoint
from core.llm.prompts import render_prompt
from core.runs import card
from core.train.grpo import rl_dataset, settings_for, train_grpo
from tests.helpers import save_base

THOUGHT = "<think>\nok\n</think>"


@pytest.fixture
def reason_world(toy_world, tmp_path):
    """toy_world plus run `reason`: a tiny base trained (all weights) to write THOUGHT and then, half the
    time each, the target's SID or another item's, under a fresh LoRA saved as a think checkpoint.

    The whole base is trained because a LoRA on a random 2-layer model cannot make the frozen
    vocabulary rows of `<think>` likely (its logits stay near uniform over 49k words); the two
    answers per prompt make the rewards of a group differ, so the advantages are non-zero."""
    from core.llm.adapter import LoraSettings, attach_lora
    from core.llm.backbone import load_base
    from core.llm.sid_tokens import add_sid_tokens
    from core.llm.tiny import tiny_model

    sidmap = toy_world.sidmap
    model, tokenizer = tiny_model(seed=1)
    torch.manual_seed(0)
    add_sid_tokens(model, tokenizer, sidmap)
    rows = rl_dataset(toy_world.dataset, sidmap, 6, seed=0, meta={"window": 5, "think": True})
    prompts = [render_prompt(tokenizer, r["prompt"]) for r in rows]
    others = [str((int(r["target"]) + 7) % 40) for r in rows]
    texts = [p + THOUGHT + sidmap.sid_text(item) + tokenizer.eos_token
             for p, r, other in zip(prompts, rows, others) for item in (r["target"], other)]
    batch = tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt")  # left padding
    batch["position_ids"] = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    answer = len(tokenizer(THOUGHT + "<a_1><b_1><c_1>", add_special_tokens=False)["input_ids"]) + 1  # + EOS
    targets = batch["input_ids"][:, -answer:]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(80):
        logits = model(**batch, logits_to_keep=answer + 1).logits[:, :-1]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model, tokenizer = load_base(str(save_base(model, tokenizer, tmp_path / "thinking-base")))
    model = attach_lora(model, add_sid_tokens(model, tokenizer, sidmap), LoraSettings(r=4, dropout=0.0))
    with torch.no_grad():  # SID rows that differ from the base's, as after SFT: the reference must keep them
        for name, p in model.named_parameters():
            if "trainable_tokens" in name:
                p.add_(torch.randn_like(p) * 0.05)
    ckpt = save_checkpoint(model, tokenizer, sidmap, toy_world.checkpoints / "reason",
                           meta={"run": "reason", "stage": "reason", "parent": "sft", "window": 5, "think": True})
    card.write_run(ckpt, {"run": "reason", "stage": "reason", "dataset": toy_world.dataset.name})
    toy_world.reason = ckpt
    return toy_world


def test_grpo_steps_log_rewards_and_move_the_adapter(reason_world, store):
    settings = settings_for("quick", max_steps=2, batch_size=2, group_size=4, max_completion_length=16,
                            learning_rate=5e-3, warmup_steps=0, save_steps=100, grounding_reward=0.2,
                            likelihood_reward=0.5, probe_users=3)
    record = train_grpo(settings, store)
    assert record["steps"] == 2 and record["completions"] == 16 and record["parent"] == "reason"
    logs = {}
    for row in store.rows("run_logs", "run = 'grpo'"):
        logs.setdefault(row["key"], {})[row["step"]] = row["value"]
    for key in ("reward", "reward_std", "parseable", "exact", "kl", "completion_length", "loss", "sid_reward",
                "grounded", "likelihood_reward", "target_prob"):
        assert set(logs[key]) == {1, 2}, key
    assert logs["parseable"][1] > 0 and logs["reward_std"][1] > 0  # answers parse, and differ within groups
    assert 0 <= logs["grounded"][1] <= 1 and logs["reward"][1] == pytest.approx(
        logs["sid_reward"][1] + 0.2 * logs["grounded"][1] + logs["likelihood_reward"][1], abs=1e-5)  # summed
    # the policy learnt to write the target's SID half the time: its probability after the reasoning is real
    assert 0.01 < logs["target_prob"][1] <= 1 and 0 < logs["likelihood_reward"][1] <= 0.5 * logs["target_prob"][1] + 1e-6
    assert record["target_prob_first5"] is not None
    assert logs["kl"][1] == pytest.approx(0.0, abs=1e-6)  # the reference is the reason adapter, SID rows included
    # the fixed validation users are scored before the first step and after the last, and only then
    for key in ("probe_target_prob", "probe_sid_reward", "probe_closed"):
        assert set(logs[key]) == {0, 2}, key
    assert logs["probe_closed"][0] == 1.0 and 0 < logs["probe_target_prob"][0] <= 1  # the parent writes THOUGHT
    assert record["probe_first"]["step"] == 0 and record["probe_last"]["step"] == 2
    assert record["probe_first"]["probe_target_prob"] == logs["probe_target_prob"][0]
    assert 0 < logs["completion_length"][1] <= 16
    before, after = load_file(reason_world.reason / ADAPTER_WEIGHTS), load_file(settings.out_dir / ADAPTER_WEIGHTS)
    assert before.keys() == after.keys()  # the frozen "ref" copy is not saved
    assert any("lora" in k and not before[k].equal(after[k]) for k in before)
    meta = read_meta(settings.out_dir)
    assert meta["think"] is True and meta["stage"] == "grpo" and meta["window"] == 5
    assert store.run("grpo")["parent"] == "reason"


def test_probe_scores_are_the_greedy_completions_own(reason_world, store):
    # the probe scores what the model writes greedily: the rule reward of that text and the target's
    # probability after that reasoning, and it leaves the model in the mode it found it in
    from core.decode.inputs import encode_prompts
    from core.train.grpo import probe_scores
    from core.train.rewards import SidReward, target_likelihoods
    from core.train.stage import load_parent

    _, _, dataset, sidmap, model, tokenizer, meta = load_parent(store, "reason")
    rows = rl_dataset(dataset, sidmap, 4, seed=0, meta=meta)
    prompts = [render_prompt(tokenizer, row["prompt"]) for row in rows]
    targets = [row["target"] for row in rows]
    model.train()
    scores = probe_scores(model, tokenizer, sidmap, prompts, targets, max_new_tokens=16)
    assert model.training
    model.eval()
    batch = encode_prompts(tokenizer, prompts)  # the same batch, so the same greedy texts on any machine
    with torch.no_grad():
        out = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], do_sample=False,
                             max_new_tokens=16, pad_token_id=tokenizer.pad_token_id)
    ids = out[:, batch["input_ids"].shape[1]:].tolist()
    texts = tokenizer.batch_decode(ids, skip_special_tokens=True)
    probs = target_likelihoods(model, tokenizer, sidmap, prompts, ids, targets)
    assert scores["probe_sid_reward"] == pytest.approx(sum(SidReward(sidmap)(prompts, texts, target=targets)) / 4)
    assert scores["probe_target_prob"] == pytest.approx(sum(p or 0.0 for p in probs) / 4, rel=1e-3)
    assert scores["probe_target_prob"] > 0.05  # the parent writes the target's SID half the time


def test_keep_best_probe_puts_back_the_best_probes_weights(reason_world, store):
    # the probe snapshots the trainable weights at its best probe_target_prob and restores them after the
    # last probe; here the last "step" wrecks the LoRA, so the parent's weights (step 0) must come back
    from types import SimpleNamespace

    from core.train.grpo import _probe
    from core.train.stage import load_parent

    _, _, dataset, sidmap, model, tokenizer, meta = load_parent(store, "reason")
    settings = settings_for("quick", probe_users=3, keep_best_probe=True, max_completion_length=16, save_steps=1)
    probe = _probe(store, settings, dataset, sidmap, tokenizer, meta)
    args = SimpleNamespace(bf16=False)
    lora = {n: p for n, p in model.named_parameters() if p.requires_grad and "lora_B" in n}
    parent = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    probe.on_train_begin(args, SimpleNamespace(global_step=0, is_world_process_zero=True), None, model=model)
    with torch.no_grad():
        for p in lora.values():
            p.add_(torch.randn_like(p) * 5.0)
    probe.on_train_end(args, SimpleNamespace(global_step=1, is_world_process_zero=True), None, model=model)
    assert [h["step"] for h in probe.history] == [0, 1]
    assert probe.history[1]["probe_target_prob"] < probe.history[0]["probe_target_prob"]  # the wreck is worse
    assert probe.best["step"] == 0
    assert all(p.equal(parent[n]) for n, p in model.named_parameters() if p.requires_grad)


def test_keep_best_probe_is_not_part_of_the_runs_identity():
    # a run started with --keep-best-probe resumes without it (to save its last step's weights), not refused
    best = settings_for("quick", probe_users=2, keep_best_probe=True)
    assert best.identity() == settings_for("quick", probe_users=2).identity()
    assert best.identity() != settings_for("quick", probe_users=3).identity()


def test_reasoning_mask_ends_at_think_end(reason_world, store):
    # the loss mask keeps a completion's tokens up to the one completing </think> and drops the SID after it;
    # a completion that never closes keeps its whole mask, padding stays 0
    from core.train.grpo import reasoning_mask
    from core.train.stage import load_parent

    _, _, _, sidmap, _, tokenizer, _ = load_parent(store, "reason")
    closed = tokenizer(THOUGHT + sidmap.sid_text("3") + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
    unclosed = tokenizer("<think>\nstill thinking", add_special_tokens=False)["input_ids"]
    width = max(len(closed), len(unclosed)) + 2
    ids = torch.full((2, width), tokenizer.pad_token_id)
    mask = torch.zeros(2, width, dtype=torch.long)
    for row, seq in enumerate((closed, unclosed)):
        ids[row, :len(seq)], mask[row, :len(seq)] = torch.tensor(seq), 1
    kept = reasoning_mask(tokenizer, ids, mask)
    reasoning = len(tokenizer(THOUGHT, add_special_tokens=False)["input_ids"])
    assert kept[0].tolist() == [1] * reasoning + [0] * (width - reasoning)
    assert kept[1].equal(mask[1])


def test_reasoning_only_loss_masks_the_answer(reason_world, store):
    # the trainer's rollouts carry a loss mask that ends at </think> (the SID after it is out of the loss,
    # attention keeps it), and a step with it still moves the adapter
    from core.train.grpo import _config, _ready, _trainer_class
    from core.train.rewards import SidReward
    from core.train.stage import load_parent

    settings = settings_for("quick", run="grpo-r", max_steps=1, batch_size=2, group_size=4, max_completion_length=16,
                            learning_rate=5e-3, warmup_steps=0, save_steps=100, likelihood_reward=0.5,
                            reasoning_only_loss=True)
    _, _, dataset, sidmap, model, tokenizer, meta = load_parent(store, "reason")
    data = rl_dataset(dataset, sidmap, 2, seed=0, meta=meta)
    trainer = _trainer_class()(model=model, reward_funcs=[SidReward(sidmap)], args=_config(settings, "cpu"),
                               train_dataset=data, processing_class=tokenizer)
    _ready(trainer, reasoning_only_loss=True)
    out = trainer._generate_and_score_completions([row for row in data for _ in range(4)])
    loss_mask, completion_mask = out["tool_mask"], out["completion_mask"]
    assert loss_mask.sum() < completion_mask.sum() and out["num_items_in_batch"] == loss_mask.sum()
    closed = 0
    for ids, keep in zip(out["completion_ids"].tolist(), loss_mask.tolist()):
        end = next((n for n in range(1, len(ids) + 1) if "</think>" in tokenizer.decode(ids[:n])), None)
        if end is not None:
            closed += 1
            assert keep[:end] == [1] * end and not any(keep[end:])
    assert closed > 0
    train_grpo(settings, store)
    before, after = load_file(reason_world.reason / ADAPTER_WEIGHTS), load_file(settings.out_dir / ADAPTER_WEIGHTS)
    assert any("lora" in k and not before[k].equal(after[k]) for k in before)


def test_bad_scale_rewards_is_one_line():
    with pytest.raises(SidLensError, match="--scale-rewards"):
        settings_for("quick", scale_rewards="std").check()
    from core.train.grpo import _config

    assert _config(settings_for("cpu", scale_rewards="none"), "cpu").scale_rewards == "none"


def test_micro_batches_make_the_same_update(reason_world, store):
    # --micro-batch splits the step's forward/backward (lower peak memory) but not its rollouts or update
    deltas = {}
    before = load_file(reason_world.reason / ADAPTER_WEIGHTS)
    for micro in (0, 4):
        settings = settings_for("quick", run=f"grpo-m{micro}", max_steps=1, batch_size=2, group_size=4,
                                max_completion_length=16, learning_rate=5e-3, warmup_steps=0, save_steps=100,
                                micro_batch=micro, beta=0.0)
        train_grpo(settings, store)
        after = load_file(settings.out_dir / ADAPTER_WEIGHTS)
        deltas[micro] = torch.cat([(after[k] - before[k]).flatten() for k in before if "lora" in k])
    assert deltas[0].abs().max() > 0
    assert torch.nn.functional.cosine_similarity(deltas[0], deltas[4], dim=0) > 0.95
    assert (deltas[0] - deltas[4]).norm() < 0.2 * deltas[0].norm()


def test_shared_prompt_logps_equal_trls_own(reason_world, store):
    # the trainer's per-token log-probs and entropies (one prompt forward per group) against TRL's own
    # GRPOTrainer computation on the same trainer: two groups shuffled together, left-padded prompts
    from trl import GRPOTrainer

    from core.train.grpo import _config, _trainer_class
    from core.train.rewards import SidReward
    from core.train.stage import load_parent

    settings = settings_for("quick", max_steps=1, batch_size=2, group_size=3, temperature=0.8)
    _, _, dataset, sidmap, model, tokenizer, meta = load_parent(store, "reason")
    data = rl_dataset(dataset, sidmap, 2, seed=0, meta=meta)
    trainer = _trainer_class()(model=model, reward_funcs=[SidReward(sidmap)], args=_config(settings, "cpu"),
                               train_dataset=data, processing_class=tokenizer)
    prompts = [tokenizer(render_prompt(tokenizer, row["prompt"]), add_special_tokens=False)["input_ids"]
               for row in data]
    width = max(len(p) for p in prompts)
    pad = tokenizer.pad_token_id
    rows, masks, completion_mask = [], [], []
    for r, (which, length) in enumerate([(0, 5), (1, 2), (0, 3), (1, 5), (0, 1), (1, 4)]):
        prompt = prompts[which]
        completion = [(7 * r + j) % 200 + 10 for j in range(length)] + [pad] * (5 - length)
        rows.append([pad] * (width - len(prompt)) + prompt + completion)
        masks.append([0] * (width - len(prompt)) + [1] * len(prompt) + [1] * length + [0] * (5 - length))
        completion_mask.append([1] * length + [0] * (5 - length))
    input_ids, attention_mask, real = torch.tensor(rows), torch.tensor(masks), torch.tensor(completion_mask).bool()
    ours = trainer._get_per_token_logps_and_entropies(trainer.model, input_ids, attention_mask, 5,
                                                      compute_entropy=True)
    trls = GRPOTrainer._get_per_token_logps_and_entropies(trainer, trainer.model, input_ids, attention_mask, 5,
                                                          compute_entropy=True)
    torch.testing.assert_close(ours[0][real], trls[0][real], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours[1][real], trls[1][real], rtol=1e-4, atol=1e-4)
    assert ours[2] is None


def test_grpo_needs_a_reasoning_parent(toy_world, store):
    with pytest.raises(SidLensError, match="not trained to reason"):
        train_grpo(settings_for("quick", from_run="sft", max_steps=1), store)


def test_bad_grpo_settings_are_one_line_errors():
    with pytest.raises(SidLensError, match="group-size"):
        settings_for("quick", group_size=1)
    with pytest.raises(SidLensError, match="temperature"):
        settings_for("quick", temperature=0.0)
    with pytest.raises(SidLensError, match="grounding-reward"):
        settings_for("quick", grounding_reward=-0.1)
    with pytest.raises(SidLensError, match="likelihood-reward"):
        settings_for("quick", likelihood_reward=-1.0)
    with pytest.raises(SidLensError, match="--keep-best-probe chooses among the probes"):
        settings_for("quick", keep_best_probe=True)
    with pytest.raises(SidLensError, match="micro-batch must divide the step's 2 x 4 = 8"):
        settings_for("quick", micro_batch=3)
    import importlib.util

    if importlib.util.find_spec("vllm") is None:  # the CPU install: the GPU extra is refused up front
        with pytest.raises(SidLensError, match="--use-vllm needs the vllm package"):
            settings_for("quick", use_vllm=True)
