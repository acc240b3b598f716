"""GRPO step time and rollout tokens/s, and the per-user cost of evaluating a reasoning variant.

    .venv/bin/python bench/bench_grpo.py [--threads 1] [--steps 2] [--users 4] [--from reason] [--preset quick]
        [--likelihood-reward 1.0] [--no-write]

Model: the trained reasoning checkpoint (`--from`, default run `reason`) when it exists, so the
rollouts have the length a real run sees; otherwise the real SmolLM2-135M-Instruct with the
ml-100k SID tokens and a fresh LoRA (untrained: it never writes `</think>`, so every rollout runs to
the completion limit: the worst case). GRPO runs through `core.train.grpo` (TRL GRPOTrainer, the
`--preset`'s group size, prompts per step, completion limit, beta and micro-batch) for one warm-up
step plus `--steps` timed steps; `model.generate` is timed inside the trainer, so rollout tokens/s is
the completion tokens TRL reports over the time spent generating them. With `--likelihood-reward V`
(> 0) the step also scores `core.train.rewards.LikelihoodReward` (the policy's probability of the
target's SID after each rollout's reasoning, one teacher-forced pass per completion), timed inside
the same steps, so its share of the step is measured in the run that pays it. The trainer is the
one `train grpo` runs (`core.train.grpo._trainer_class`: TRL's GRPOTrainer with shared-prompt
log-probs). The evaluation figures, on `--users` test users, merged model:
`core.eval.traces.reasoned_prompts` (greedy reasoning to `</think>`) plus the constrained top-10
over prompt + reasoning prefilled again, against the same search started in the cache the
reasoning's generation filled (`ReasoningPrefill`, what `eval` runs), in the same run.
Figures go to this script's BENCHMARKS.md section.
"""
from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_decode  # noqa: E402  (its SID map fallback and BENCHMARKS.md section writer)
import torch  # noqa: E402

from core.errors import SidLensError  # noqa: E402
from core.llm.precision import machine  # noqa: E402
from core.store import Store  # noqa: E402

SECTION = "bench_grpo"


def policy(from_run: str):
    """(peft model, tokenizer, sidmap, dataset, checkpoint meta, description)."""
    from core.llm.adapter import LoraSettings, attach_lora
    from core.llm.backbone import load_base
    from core.llm.sid_tokens import add_sid_tokens
    from core.train.stage import load_parent

    try:
        _, ckpt, dataset, sidmap, model, tokenizer, meta = load_parent(Store(), from_run)
        return model, tokenizer, sidmap, dataset, meta, f"checkpoint `{from_run}` ({ckpt.name})"
    except SidLensError:
        sidmap, source, dataset, _ = bench_decode.sid_map_and_histories(1)
        model, tokenizer = load_base(None)
        model = attach_lora(model, add_sid_tokens(model, tokenizer, sidmap), LoraSettings())
        return model, tokenizer, sidmap, dataset, {"think": True}, f"untrained SmolLM2-135M + fresh LoRA, {source}"


def run(args) -> dict:
    from transformers import TrainerCallback

    from core.data.split import Split
    from core.decode.beam import constrained_topk
    from core.decode.trie import SidTrie
    from core.eval.traces import ReasoningPrefill, reasoned_prompts
    from core.llm.prompts import history_window, render_prompt, variant_messages
    from core.train.grpo import _config, _ready, _reward_logger, _trainer_class, rl_dataset, settings_for
    from core.train.rewards import LikelihoodReward, SidReward

    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    model, tokenizer, sidmap, dataset, meta, source = policy(args.from_run)
    settings = settings_for(args.preset, max_steps=args.steps + 1, output_dir=None, run="bench-grpo", save_steps=10_000,
                            likelihood_reward=args.likelihood_reward)
    scored = []

    class TimedLikelihood(LikelihoodReward):
        def __call__(self, *a, **k):
            started = time.perf_counter()
            out = super().__call__(*a, **k)
            scored.append(time.perf_counter() - started)
            return out

    likelihood = TimedLikelihood(tokenizer, sidmap, settings.likelihood_reward) if settings.likelihood_reward else None
    generate, spent = model.generate, []

    def timed_generate(*a, **k):
        started = time.perf_counter()
        out = generate(*a, **k)
        spent.append(time.perf_counter() - started)
        return out

    model.generate = timed_generate
    step_ends = []

    class StepClock(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            step_ends.append(("begin", time.perf_counter()))

        def on_step_end(self, a, state, control, **kw):
            step_ends.append(("end", time.perf_counter()))

    rewards = _reward_logger(Store(":memory:"), settings.run)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SIDLENS_DATA_DIR"] = tmp  # the Trainer's output folder, not the user's data dir
        trainer = _trainer_class()(model=model, reward_funcs=[SidReward(sidmap)] + ([likelihood] if likelihood else []),
                              args=_config(settings, "cpu"),
                              train_dataset=rl_dataset(dataset, sidmap, settings.max_steps * settings.batch_size, 0, meta),
                              processing_class=tokenizer, callbacks=[rewards, StepClock()])
        _ready(trainer)
        trainer.train()
    begins = [t for kind, t in step_ends if kind == "begin"]
    ends = [t for kind, t in step_ends if kind == "end"]
    step_seconds = [e - b for b, e in zip(begins, ends)][1:]  # the first step warms up
    per_step = settings.batch_size * settings.group_size
    lengths = [r["completion_length"] for r in rewards.history][1:]
    rollout_tps = [length * per_step / s for length, s in zip(lengths, spent[1:])]

    model.generate = generate
    merged = trainer.model.merge_and_unload().eval() if hasattr(trainer.model, "merge_and_unload") else trainer.model
    split = Split(dataset, window=history_window(meta))
    examples = split.examples("test")[:args.users]
    prompts = [render_prompt(tokenizer, variant_messages(meta, sidmap, dataset, ex.history)[0]) for ex in examples]
    trie, exclude = SidTrie(sidmap, tokenizer), [split.seen_before(ex.user_id, "test") for ex in examples]
    started = time.perf_counter()
    searched, reasonings, closed = reasoned_prompts(merged, tokenizer, prompts, batch_size=args.users)
    reasoning_seconds = time.perf_counter() - started
    constrained_topk(merged, tokenizer, trie, searched, k=10, batch_size=args.users, exclude=exclude)
    eval_seconds = time.perf_counter() - started
    started = time.perf_counter()  # what `eval` runs: the search in the reasoning generation's cache
    constrained_topk(merged, tokenizer, trie, prompts, k=10, batch_size=args.users, exclude=exclude,
                     prefill=ReasoningPrefill(merged, tokenizer))
    cached_seconds = time.perf_counter() - started
    return {"source": source, "threads": args.threads, "settings": settings, "step_seconds": step_seconds,
            "rollout_tps": rollout_tps, "generate_seconds": spent[1:], "lengths": lengths, "preset": args.preset,
            "grpo_precision": "bf16" if trainer.args.bf16 else "fp32",
            "likelihood_seconds": scored[1:],
            "reasoning_tokens": [len(tokenizer(r, add_special_tokens=False)["input_ids"]) for r in reasonings],
            "closed": closed, "users": len(examples), "reasoning_seconds": reasoning_seconds,
            "eval_seconds": eval_seconds, "cached_seconds": cached_seconds, "load": (load_start, os.getloadavg()[0])}


def report(r: dict) -> str:
    s = r["settings"]
    med = statistics.median
    return "\n".join([
        "## GRPO and reasoning evaluation (bench/bench_grpo.py)", "",
        f"`.venv/bin/python bench/bench_grpo.py --preset {r['preset']} --likelihood-reward {s.likelihood_reward:g} "
        f"--steps {len(r['step_seconds'])} --threads {r['threads']} --users {r['users']}` on {datetime.date.today()}; "
        f"machine: {machine()}, 2 cores (shared), torch "
        f"{torch.__version__}, {r['threads']} thread(s), GRPO steps in {r['grpo_precision']} (`--dtype auto`, as "
        f"`train grpo`), the evaluation figures in fp32; policy: {r['source']}. GRPO {r['preset']} preset "
        f"shapes: {s.batch_size} prompts x {s.group_size} samples per step, completions up to "
        f"{s.max_completion_length} tokens, beta {s.beta} (one extra reference forward per step), micro-batch "
        f"{s.micro_batch or 'off'}, TRL GRPOTrainer with shared-prompt log-probs; median of "
        f"{len(r['step_seconds'])} steps after one warm-up. "
        f"Load average {r['load'][0]:.1f} at the start, "
        f"{r['load'][1]:.1f} at the end (other jobs share the cores: figures are noisy).", "",
        "| measure | value |", "|---|---|",
        f"| GRPO seconds per step | {med(r['step_seconds']):.1f} s |",
        f"| of which generating the rollouts | {med(r['generate_seconds']):.1f} s |",
        *([f"| of which the likelihood reward (`--likelihood-reward {s.likelihood_reward:g}`) | "
           f"{med(r['likelihood_seconds']):.1f} s ({med(r['likelihood_seconds']) / med(r['step_seconds']):.0%} of the "
           f"step) |"] if r["likelihood_seconds"] else []),
        f"| rollout tokens/s ({s.batch_size * s.group_size} sequences sampled together) | {med(r['rollout_tps']):.1f} tokens/s |",
        f"| mean completion length | {med(r['lengths']):.0f} tokens |",
        f"| reasoning evaluation, greedy reasoning + constrained top-10 ({r['users']} users in one batch) | "
        f"{r['eval_seconds'] / r['users']:.1f} s/user (reasoning {r['reasoning_seconds'] / r['users']:.1f} s/user) |",
        f"| the same, searched in the reasoning's KV cache (`ReasoningPrefill`, what `eval` runs) | "
        f"{r['cached_seconds'] / r['users']:.1f} s/user ({r['eval_seconds'] / r['cached_seconds']:.2f}x faster) |",
        f"| reasoning length in that evaluation | {med(r['reasoning_tokens']):.0f} tokens (closed by the model: "
        f"{r['closed']:.0%}) |", ""]) + "\n"


def arguments(parser: argparse.ArgumentParser) -> None:
    """This script's options (besides --no-write, which every bench script has)."""
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: steadier on the shared machine)")
    parser.add_argument("--steps", type=int, default=2, help="timed GRPO steps after one warm-up (median reported)")
    parser.add_argument("--users", type=int, default=4, help="test users for the evaluation figure")
    parser.add_argument("--from", dest="from_run", default="reason", help="reasoning run to start from when it exists")
    parser.add_argument("--preset", default="quick", choices=("quick", "cpu"), help="GRPO preset whose shapes are timed")
    parser.add_argument("--likelihood-reward", type=float, default=0.0,
                        help="also score and time the likelihood reward at this value (0 = off)")


def main() -> None:
    bench_decode.bench_main(__doc__, SECTION, arguments, run, report)


if __name__ == "__main__":
    main()
