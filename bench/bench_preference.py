"""DPO / Softmax-DPO step time on the real SmolLM2-135M (CPU) for K = 1, 3, 7 negatives, fp32 and bf16.

    .venv/bin/python bench/bench_preference.py [--threads 2] [--steps 3] [--batch-size 8] [--no-write]

For each K, on the same loaded model with a LoRA + trainable SID rows (the shapes of the SFT
adapter that `train dpo/sdpo` continues), with real ml-100k training prompts and random negatives:
- policy step: `completion_logps` (prompt run once, K+1 responses on its expanded cache), the S-DPO
  loss, backward, AdamW step: seconds per step (median of --steps after one warm-up) and the ratio
  to K = 1 (what `core.train.preference_loop` pays per step), in fp32 and under bf16 autocast (what
  `train dpo/sdpo --dtype auto` runs in where `core.llm.precision` measures bf16 faster);
- reference: the same log-probs without gradients (what the precomputation pays per batch);
- for K in --concat (default 1) the same policy step in TRL's DPOTrainer layout, each
  response concatenated with its own copy of the prompt, to show what the shared prompt saves.
SID tokens come from the real ml-100k SID map when it has been built, otherwise from a seeded
random 32x32x32 map over the real items (same vocabulary growth, same response length). Speed
only: the model is not the trained SFT checkpoint. Figures go to this script's BENCHMARKS.md section.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_decode  # noqa: E402  (its BENCHMARKS.md section writer)
import torch  # noqa: E402

from core.data.registry import load_dataset  # noqa: E402
from core.data.split import Split  # noqa: E402
from core.decode.logps import completion_logps  # noqa: E402
from core.errors import SidLensError  # noqa: E402
from core.llm.adapter import LoraSettings, attach_lora  # noqa: E402
from core.llm.backbone import load_base  # noqa: E402
from core.llm.precision import autocast  # noqa: E402
from core.llm.prompts import recommendation_messages, render_prompt  # noqa: E402
from core.llm.sid_tokens import add_sid_tokens  # noqa: E402
from core.sid.sidmap import SidMap  # noqa: E402
from core.train.negatives import random_negatives  # noqa: E402
from core.train.preference_plan import response_ids  # noqa: E402
from core.train.sdpo_loss import sdpo_loss  # noqa: E402

SECTION = "bench_preference"


def sid_map(dataset) -> tuple[SidMap, str]:
    try:
        from core.sid.build import load_sidmap

        return load_sidmap(dataset.name), "real ml-100k SID map"
    except SidLensError:
        rng, codes, seen = random.Random(0), {}, set()
        for item in sorted(dataset.items):
            sid = (rng.randrange(32), rng.randrange(32), rng.randrange(32))
            while sid in seen:
                sid = (rng.randrange(32), rng.randrange(32), rng.randrange(32))
            seen.add(sid)
            codes[item] = sid
        return SidMap(dataset.name, "random", [32, 32, 32], codes), "seeded random 32x32x32 map over ml-100k items"


def concatenated_logps(model, tokenizer, prompts, completions) -> torch.Tensor:
    """TRL's layout: every response with its own copy of the prompt, one right-padded batch."""
    rows, starts = [], []
    for prompt, group in zip(prompts, completions):
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        for c in group:
            rows.append(ids + c)
            starts.append(len(ids))
    width = max(len(r) for r in rows)
    tokens = torch.tensor([r + [tokenizer.pad_token_id] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    logp = torch.log_softmax(model(input_ids=tokens, attention_mask=mask).logits[:, :-1].float(), -1)
    picked = logp.gather(-1, tokens[:, 1:, None]).squeeze(-1)
    keep = torch.zeros_like(picked)
    for i, (s, r) in enumerate(zip(starts, rows)):
        keep[i, s - 1:len(r) - 1] = 1
    return (picked * keep).sum(1).view(len(prompts), -1)


def median_seconds(fn, steps: int) -> float:
    fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    dataset = load_dataset("ml-100k")
    sidmap, source = sid_map(dataset)
    model, tokenizer = load_base()
    model = attach_lora(model, add_sid_tokens(model, tokenizer, sidmap), LoraSettings(dropout=0.0))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-6)
    split = Split(dataset)
    examples = random.Random(0).sample(split.examples("train"), args.batch_size)
    prompts = [render_prompt(tokenizer, recommendation_messages(sidmap, dataset, ex.history)[0]) for ex in examples]
    prompt_tokens = statistics.mean(len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts)
    out = {"load_before": os.getloadavg()[0], "sid_source": source, "threads": args.threads, "batch": args.batch_size,
           "prompt_tokens": prompt_tokens,
           "steps": args.steps, "rows": []}
    for k in args.ks:
        negs = random_negatives(split, examples, k, seed=0)
        groups = [[list(response_ids(tokenizer, sidmap.sid_tokens(i))) for i in (ex.target, *n)]
                  for ex, n in zip(examples, negs)]

        def step(score=completion_logps):
            model.train()
            logps = score(model, tokenizer, prompts, groups)
            loss, _ = sdpo_loss(logps[:, 0], logps[:, 1:], logps[:, 0].detach(), logps[:, 1:].detach(), 1.0)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()

        def reference():
            with torch.no_grad(), model.disable_adapter():
                completion_logps(model.eval(), tokenizer, prompts, groups)

        def bf16_step():
            with autocast("cpu"):
                step()

        row = {"k": k, "step_s": median_seconds(step, args.steps), "bf16_step_s": median_seconds(bf16_step, args.steps),
               "ref_s": median_seconds(reference, args.steps)}
        if k in args.concat:
            row["concat_s"] = median_seconds(lambda: step(concatenated_logps), max(1, args.steps - 1))
        print(row, flush=True)
        out["rows"].append(row)
    out["load_after"] = os.getloadavg()[0]
    return out


def report(r: dict) -> str:
    base = r["rows"][0]["step_s"]
    lines = ["## DPO / Softmax-DPO step time (bench/bench_preference.py)", "",
             f"`.venv/bin/python bench/bench_preference.py` on {datetime.date.today().isoformat()}; machine: 2-core "
             f"CPU ({platform.machine()}, shared with other jobs), torch {torch.__version__}, {r['threads']} thread(s); "
             f"SmolLM2-135M-Instruct + LoRA r=16 and trainable SID rows ({r['sid_source']}); {r['batch']} "
             f"real ml-100k training prompts per step (~{r['prompt_tokens']:.0f} tokens), responses = SID + EOS "
             f"(4 tokens), random negatives; median of {r['steps']} steps after a warm-up. Load average (1 min) "
             f"{r['load_before']:.1f} before and {r['load_after']:.1f} after: the machine was shared, so compare the "
             "ratios more than the seconds.", "",
             "| K negatives | policy step, fp32 (s) | vs K=1 | policy step, bf16 autocast (s) | fp32 / bf16 | "
             "reference log-probs, fp32 (s/batch) | TRL layout step, fp32 (s) |",
             "|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        concat = f"{row['concat_s']:.2f} ({row['concat_s'] / row['step_s']:.1f}x ours)" if "concat_s" in row else "-"
        lines.append(f"| {row['k']} | {row['step_s']:.2f} | {row['step_s'] / base:.2f}x | {row['bf16_step_s']:.2f} | "
                     f"{row['step_s'] / row['bf16_step_s']:.2f}x | {row['ref_s']:.2f} | {concat} |")
    lines += ["", "Policy step = shared-prompt log-probs of the K+1 responses, S-DPO loss, backward, AdamW. "
              "TRL layout = the same step with each response concatenated to its own prompt copy "
              "(how DPOTrainer batches), shown for the K in --concat.", ""]
    return "\n".join(lines)


def arguments(parser: argparse.ArgumentParser) -> None:
    """This script's options (besides --no-write, which every bench script has)."""
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: steadier on the shared machine)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per figure after one warm-up (median)")
    parser.add_argument("--batch-size", type=int, default=8, help="prompts per step")
    parser.add_argument("--ks", type=lambda s: [int(x) for x in s.split(",")], default=[1, 3, 7],
                        help="numbers of negatives, comma-separated (default 1,3,7; the first is the baseline)")
    parser.add_argument("--concat", type=lambda s: [int(x) for x in s.split(",") if x], default=[1],
                        help="K values also timed in TRL's concatenated layout (default 1; '' for none; its "
                             "full-vocabulary logits at every position need ~10 GB at K=3, batch 8)")


def main() -> None:
    bench_decode.bench_main(__doc__, SECTION, arguments, run, report)


if __name__ == "__main__":
    main()
