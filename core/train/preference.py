"""DPO and Softmax-DPO on top of the SFT checkpoint: the target item against K sampled negatives.

    python -m core train dpo  --from sft [--negatives 1] [--sampler random|popularity|hard] [--pairs FILE]
    python -m core train sdpo --from sft --negatives 3   [--sampler random|popularity|hard]
    python -m core train sdpo --from sft --negatives 3 --protocol candidates   # S-DPO's protocol

What happens:
1. Plan. `max_steps * batch_size` training examples of the leave-one-out split (seeded shuffle of
   every training prefix, canonical prompt without profile, as the evaluation prompts), each with
   the target's response (its SID tokens + EOS, what SFT taught the model to emit) and K negatives
   from `core.train.negatives`. With `--pairs` (dpo only) the examples are instead the labeled
   preference pairs exported by the app (`core.labels.load_pairs`): prompt, chosen, rejected text.
2. Reference. The SFT adapter is loaded once, trainable (`load_checkpoint(merge=False)`), and
   before the first update it scores every planned response (`core.decode.logps`, no gradients)
   and, for `--sampler hard`, draws the negatives from its own beam. The reference log-probs are
   precomputed like TRL's `precompute_ref_log_probs`: one model in memory, no reference forward
   per step, and since the reference is the step-0 policy computed the same way (same precision,
   same batches; the adapters have no dropout), the first loss is log(1 + K) in fp32 and bf16
   alike. (A merged copy of the adapter differs from it by rounding: under bf16 that was 0.62
   instead of log 2 on a 2-prompt batch, a spurious margin the first steps would train on.)
3. Policy. Training continues the SFT adapter itself rather than merging SFT and putting a fresh
   LoRA on top: the result is an ordinary adapter on the base model (same size as SFT's), which
   `load_checkpoint`, `eval` and the app load like any other variant without knowing its parent.
4. Loop. Per step: the policy's log-probs of the K+1 responses (prompt run once), the S-DPO loss
   (`core.train.sdpo_loss`; K = 1 is DPO's sigmoid loss), plus `--sft-weight` times the chosen
   response's per-token NLL when given (RPO, TRL's `sft` loss term), AdamW on the LoRA and SID rows, cosine
   schedule with warm-up, gradient clipping at 1, under bf16 autocast where `core.llm.precision`
   measures it faster (`--dtype`; the reference is scored in the same precision; each step's forward
   has its own autocast context, since autocast reuses its bf16 copies of the trainable weights until
   its context exits: runs trained before that fix forwarded the step-0 weights at every step). Every step logs
   loss, chosen and rejected rewards, reward accuracy, margin, lr and grad norm to the store.

Why an own loop rather than TRL's DPOTrainer: DPOTrainer has no multi-negative loss, and adding
one means replacing its private `_compute_loss` (a 300-line method that runs the model on a
[chosen; rejected] batch and changes between TRL versions). One ~40-line loop serves DPO and
S-DPO identically (same batching, optimizer and log-prob function, so the comparison isolates K),
and scoring K+1 three-token responses after a shared prompt is ~K times cheaper than TRL's layout
of one full prompt copy per response. The loss is checked against TRL's own sigmoid loss.

Differences from the S-DPO paper: LoRA on a 135M model continued from our SFT adapter (the paper
fine-tunes LLaMA2-7B with LoRA from its own SFT), responses are SIDs instead of titles, negatives
may be popularity-weighted or hard as well as random, and the quick preset sees a few hundred
examples (sized to ~10-15 minutes on 2 CPU cores) instead of several epochs.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import ClassVar

from core.errors import SidLensError
from core.eval.candidates import N_CANDIDATES
from core.llm.prompts import history_style, history_window
from core.runs import relative_to_repo, resolve_repo_path
from core.store import Store
from core.train.common import mean_of
from core.train.negatives import SAMPLERS
from core.train.stage import StageSettings, finish_stage, start_stage

PROTOCOLS = ("all-items", "candidates")


@dataclass
class PreferenceSettings(StageSettings):
    """Settings of `train dpo` (one negative); `SDPOSettings` changes the defaults for `train sdpo`."""

    STAGE: ClassVar[str] = "dpo"

    from_run: str = field(default="sft", metadata={"flag": "--from", "help": "run whose checkpoint is the policy's "
                                                   "start and the frozen reference (normally sft)"})
    run: str = field(default="dpo", metadata={"help": "run name (store key, checkpoint folder name)"})
    negatives: int = field(default=1, metadata={"help": "negatives per example (K); dpo uses 1"})
    sampler: str = field(default="random", metadata={"choices": SAMPLERS, "help": "how negatives are drawn: random "
                                                     "unseen items, popularity-weighted, or hard (the SFT beam's top-K)"})
    protocol: str = field(default="all-items", metadata={"choices": PROTOCOLS, "help": "all-items: the recommendation "
                          "prompt, negatives from --sampler; candidates: S-DPO's protocol, the prompt lists 20 candidates "
                          "and the K negatives are drawn uniformly from the 19 that are not the target"})
    pairs: str | None = field(default=None, metadata={"help": "JSONL of labeled preference pairs exported from the app "
                                                      "(dpo only; replaces the sampled negatives)"})
    beta: float = field(default=1.0, metadata={"help": "inverse temperature of the implicit reward (S-DPO uses 1)"})
    max_steps: int = field(default=40, metadata={"help": "optimizer steps"})
    batch_size: int = field(default=8, metadata={"help": "prompts per step (each with 1 + K responses)"})
    learning_rate: float = field(default=1e-4, metadata={"help": "peak learning rate (LoRA and SID rows)"})
    warmup_steps: int = field(default=5, metadata={"help": "linear warm-up steps, then cosine decay"})
    seed: int = field(default=0, metadata={"help": "seed of the example order and the negatives"})
    sft_weight: float = field(default=0.0, metadata={
        "help": "weight of the chosen response's mean per-token NLL added to the preference loss (RPO; TRL's "
                "loss_type=['sigmoid', 'sft']): keeps the target likely while the negatives are pushed down"})
    micro_batch: int = field(default=0, metadata={
        "help": "prompts per forward/backward pass (0 = the whole batch); the same update with a lower memory "
                "peak, for long responses such as labeled reasoning traces (--pairs)"})

    def check(self) -> None:
        super().check()
        if self.micro_batch < 0:
            raise SidLensError(f"--micro-batch must be >= 0, not {self.micro_batch}")
        if self.sampler not in SAMPLERS:
            raise SidLensError(f"unknown negative sampler {self.sampler!r} (choose {', '.join(SAMPLERS)})")
        if self.negatives < 1:
            raise SidLensError(f"--negatives must be at least 1, not {self.negatives}")
        if self.STAGE == "dpo" and self.negatives != 1:
            raise SidLensError("dpo trains with one negative: use `train sdpo --negatives K` for more")
        if self.pairs and self.STAGE != "dpo":
            raise SidLensError("--pairs holds one rejected response per prompt: use it with `train dpo`")
        if self.protocol not in PROTOCOLS:
            raise SidLensError(f"unknown protocol {self.protocol!r} (choose {', '.join(PROTOCOLS)})")
        if self.protocol == "candidates" and (self.pairs or self.sampler != "random"):
            raise SidLensError("--protocol candidates draws the negatives uniformly from the prompt's candidates: "
                               "it takes neither --pairs nor --sampler")
        if self.protocol == "candidates" and self.negatives > N_CANDIDATES - 1:
            raise SidLensError(f"--negatives {self.negatives} needs {self.negatives + 1} candidates; a list holds "
                               f"{N_CANDIDATES}")
        if self.sft_weight < 0:
            raise SidLensError(f"--sft-weight must be >= 0, not {self.sft_weight}")
        if self.max_steps < 1 or self.batch_size < 1 or self.beta <= 0:
            raise SidLensError("--max-steps and --batch-size must be at least 1 and --beta positive")


@dataclass
class SDPOSettings(PreferenceSettings):
    STAGE: ClassVar[str] = "sdpo"

    run: str = field(default="sdpo", metadata={"help": "run name (store key, checkpoint folder name)"})
    negatives: int = field(default=3, metadata={"help": "negatives per example (K) competing in one softmax"})


# quick: 40 steps of 8 prompts (320 examples), sized to a quarter of an hour on the 2-core CPU whatever
# K (step and reference times: BENCHMARKS.md, bench/bench_preference.py); a 15-minute cap on the loop
# saves what was learnt on a busier machine. full: 48k examples (half the training prefixes), sized
# for a GPU and not run here.
PRESETS: dict[str, dict] = {
    "quick": {"max_steps": 40, "batch_size": 8, "learning_rate": 1e-4, "max_minutes": 15.0},
    "full": {"max_steps": 3000, "batch_size": 16, "learning_rate": 1e-5, "warmup_steps": 100},
}


def dpo_settings(preset: str = "quick", **overrides) -> PreferenceSettings:
    return PreferenceSettings.from_preset(PRESETS, preset, overrides)


def sdpo_settings(preset: str = "quick", **overrides) -> SDPOSettings:
    return SDPOSettings.from_preset(PRESETS, preset, overrides)


def train_preference(settings: PreferenceSettings, store: Store | None = None) -> dict:
    """Plan, precompute the reference, train, save the adapter and card, register the run; the run record."""
    import torch

    from core.data.registry import load_dataset
    from core.decode.trie import SidTrie
    from core.llm.adapter import load_checkpoint, read_meta
    from core.llm.backbone import resolve_device
    from core.llm.precision import autocast
    from core.runs import resolve_run
    from core.sid.build import load_sidmap
    from core.train.preference_loop import run_loop
    from core.train.preference_plan import candidate_plan, item_plan, pair_plan, reference_logps

    if settings.threads:
        torch.set_num_threads(settings.threads)
    store = store or Store()
    parent = resolve_run(store, settings.from_run)
    ckpt = resolve_repo_path(parent["checkpoint"])
    dataset = load_dataset(parent["dataset"], store)
    sidmap = load_sidmap(parent["dataset"], store)
    parent_meta = read_meta(ckpt)
    window = history_window(parent_meta)
    if parent_meta.get("think") and not settings.pairs:
        raise SidLensError(f"{settings.from_run!r} reasons before its answer; sampled negatives are bare SIDs, which "
                           "would teach it to answer without reasoning: train it on labeled pairs of its traces "
                           "(--pairs), or start from a direct-answer run such as sft")
    device = resolve_device().type
    # one precision for the reference and the policy, so the first step's policy equals the reference
    bf16 = settings.bf16(device)
    precision = autocast(device, bf16)
    started = time.perf_counter()
    model, tokenizer, meta = load_checkpoint(ckpt, sidmap, merge=False)
    model.eval()
    n_examples = settings.max_steps * settings.batch_size
    if settings.pairs:
        plan = pair_plan(settings.pairs, tokenizer, n_examples, settings.seed)
    elif settings.protocol == "candidates":
        plan = candidate_plan(tokenizer, sidmap, dataset, parent_meta, settings, n_examples)
    else:
        plan = item_plan(model, tokenizer, SidTrie(sidmap, tokenizer), dataset, parent_meta, settings, n_examples)
    negatives_seconds = time.perf_counter() - started
    with precision:
        ref = reference_logps(model, tokenizer, plan, settings.batch_size)
    ref_seconds = time.perf_counter() - started - negatives_seconds
    config = {**settings.identity(), "stage": settings.STAGE, "parent_checkpoint": relative_to_repo(ckpt),
              "sid_map_hash": sidmap.hash, "examples": len(plan)}
    start_stage(store, settings, stage=settings.STAGE, dataset=parent["dataset"], config=config, parent=settings.from_run)
    try:
        outcome = run_loop(model, tokenizer, plan, ref, settings, store, bf16=bf16)
    except BaseException:
        store.finish_run(settings.run, status="interrupted")
        raise
    logs = outcome["logs"]
    tail = logs[-10:]
    record = {"stage": settings.STAGE, "parent": settings.from_run, "dataset": parent["dataset"],
              "base_model": meta["base_model"], "precision": "bf16" if bf16 else "fp32", "steps": len(logs),
              "examples": len(logs) * settings.batch_size, "negatives": 1 if settings.pairs else settings.negatives,
              "sampler": "pairs" if settings.pairs else settings.sampler, "protocol": settings.protocol,
              "train_seconds": round(outcome["seconds"], 1),
              "seconds_per_step": round(outcome["seconds"] / max(len(logs), 1), 2),
              "negatives_seconds": round(negatives_seconds, 1), "reference_seconds": round(ref_seconds, 1),
              "loss_first": logs[0]["loss"] if logs else None, "loss_last": logs[-1]["loss"] if logs else None,
              "expected_first_loss": round(math.log(1 + (1 if settings.pairs else settings.negatives)), 4),
              "reward_accuracy_last10": mean_of(tail, "reward_accuracy"), "margin_last10": mean_of(tail, "margin"),
              "stopped_early": outcome["stopped_early"]}
    meta = {"base_model": meta["base_model"], "stage": settings.STAGE, "parent": settings.from_run, "window": window,
            "history": history_style(parent_meta), "protocol": settings.protocol,
            # labeled pairs of a reasoning variant's traces keep it one: its prompts ask to think first
            **({"think": True} if parent_meta.get("think") else {})}
    return finish_stage(model, tokenizer, sidmap, settings, store, meta=meta, record=record, config=config,
                        summary=("command", "train_seconds", "steps", "seconds_per_step", "adapter_mb"))


