"""GRPO's per-token log-probs: TRL's computation against the one `train grpo` runs, on the same batch.

    .venv/bin/python bench/bench_grpo_logps.py [--from reason] [--group-size 8] [--length 128]
                                               [--threads 1] [--repeats 1] [--no-write]

What a GRPO step spends outside its rollouts: the policy's per-token log-probs and entropies with
their backward pass (the loss), and the reference's log-probs without gradients (the KL term, beta
> 0). TRL's `GRPOTrainer._get_per_token_logps_and_entropies` runs every row, prompt and completion,
through the model; `core.train.grpo`'s trainer runs each group's prompt once and its completions as
chains on the prompt's cache (`core.decode.logps.grouped_token_logps`). Both are timed here on one
trainer built as `train grpo` builds it (cpu preset, the `--from` checkpoint), on one generation
batch of 2 real training prompts x `--group-size` completions of `--length` tokens (TRL pads every
completion to the batch's longest, so this is a batch whose longest rollout has that length), the
rows of the two groups shuffled together as TRL shuffles them. Wall and CPU seconds (medians of
`--repeats`), the ratio, and the largest difference between the two results at real tokens. Written
to this script's section of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_decode  # noqa: E402  (timing helper and BENCHMARKS.md section writer)
import torch  # noqa: E402

SECTION = "bench_grpo_logps"


def run(args) -> dict:
    from bench_grpo import policy
    from trl import GRPOTrainer

    from core.llm.precision import machine
    from core.llm.prompts import render_prompt
    from core.train.grpo import _config, _trainer_class, rl_dataset, settings_for
    from core.train.rewards import SidReward

    torch.set_num_threads(args.threads)
    load_start = os.getloadavg()[0]
    model, tokenizer, sidmap, dataset, meta, source = policy(args.from_run)
    settings = settings_for("cpu", run="bench-grpo-logps", group_size=args.group_size, output_dir=None)
    data = rl_dataset(dataset, sidmap, 2, 0, meta)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SIDLENS_DATA_DIR"] = tmp  # the Trainer's output folder, not the user's data dir
        trainer = _trainer_class()(model=model, reward_funcs=[SidReward(sidmap)], args=_config(settings, "cpu"),
                                   train_dataset=data, processing_class=tokenizer)
    prompts = [tokenizer(render_prompt(tokenizer, row["prompt"]), add_special_tokens=False)["input_ids"]
               for row in data]
    width, pad = max(len(p) for p in prompts), tokenizer.pad_token_id
    order = torch.randperm(2 * args.group_size, generator=torch.Generator().manual_seed(0)).tolist()
    generator = torch.Generator().manual_seed(1)
    rows = []
    for r in order:
        prompt = prompts[r % 2]
        completion = torch.randint(100, 40_000, (args.length,), generator=generator).tolist()
        rows.append(([pad] * (width - len(prompt)) + prompt + completion,
                     [0] * (width - len(prompt)) + [1] * (len(prompt) + args.length)))
    input_ids, attention_mask = torch.tensor([r[0] for r in rows]), torch.tensor([r[1] for r in rows])
    model = trainer.model
    ways = {"TRL GRPOTrainer": lambda *a, **k: GRPOTrainer._get_per_token_logps_and_entropies(trainer, *a, **k),
            "shared prompt (train grpo)": trainer._get_per_token_logps_and_entropies}
    out = {}
    for name, logps_of in ways.items():
        def policy_pass():
            logps = logps_of(model, input_ids, attention_mask, args.length, compute_entropy=True)[0]
            logps.sum().backward()
            model.zero_grad(set_to_none=True)
            return logps.detach()

        def reference_pass():
            with torch.no_grad():
                return logps_of(model, input_ids, attention_mask, args.length, batch_size=args.group_size)[0]

        out[name] = {"policy": bench_decode.timed(policy_pass, args.repeats, warm_up=False),
                     "reference": bench_decode.timed(reference_pass, args.repeats, warm_up=False)}
    (a, b) = out.values()
    difference = (a["policy"][2] - b["policy"][2]).abs().max().item()
    return {"source": source, "machine": machine(), "threads": args.threads, "args": args,
            "prompt_tokens": [len(p) for p in prompts], "results": out, "difference": difference,
            "load": (load_start, os.getloadavg()[0])}


def report(r: dict) -> str:
    args, res = r["args"], r["results"]
    stock, ours = res.values()
    lines = ["## GRPO log-probs: TRL's computation against the shared prompt (bench/bench_grpo_logps.py)", "",
             f"`.venv/bin/python bench/bench_grpo_logps.py --group-size {args.group_size} --length {args.length} "
             f"--threads {r['threads']} --repeats {args.repeats}` on {datetime.date.today()}; machine: {r['machine']}, "
             f"torch {torch.__version__}, fp32; policy: {r['source']}; one generation batch of 2 training prompts "
             f"({' and '.join(map(str, r['prompt_tokens']))} tokens) x {args.group_size} completions of {args.length} "
             f"tokens, the two groups' rows shuffled together. Load average {r['load'][0]:.1f} at the start, "
             f"{r['load'][1]:.1f} at the end (CPU seconds count this process only: the steadier figure when other "
             "jobs share the cores).", "",
             "| pass | TRL GRPOTrainer s (CPU s) | shared prompt s (CPU s) | speed-up (CPU) |", "|---|---|---|---|"]
    for part, label in (("policy", "policy log-probs + entropies, forward and backward (the loss)"),
                        ("reference", "reference log-probs, no gradients (the KL term)")):
        (sw, sc, _), (ow, oc, _) = stock[part], ours[part]
        lines.append(f"| {label} | {sw:.1f} ({sc:.1f}) | {ow:.1f} ({oc:.1f}) | {sc / oc:.2f}x |")
    lines += ["", f"Largest difference between the two computations' log-probs: {r['difference']:.2e}.", ""]
    return "\n".join(lines) + "\n"


def arguments(parser: argparse.ArgumentParser) -> None:
    """This script's options (besides --no-write, which every bench script has)."""
    parser.add_argument("--from", dest="from_run", default="reason", help="reasoning run whose adapter is the policy")
    parser.add_argument("--group-size", type=int, default=8, help="completions per prompt (the cpu preset's 8)")
    parser.add_argument("--length", type=int, default=128, help="tokens of every completion")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=1, help="timed repetitions per figure, median reported")


def main() -> None:
    bench_decode.bench_main(__doc__, SECTION, arguments, run, report)


if __name__ == "__main__":
    main()
