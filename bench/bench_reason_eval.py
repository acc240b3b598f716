"""Seconds per user of evaluating a reasoning variant, against the batch size, in one run.

    .venv/bin/python bench/bench_reason_eval.py [--from reason] [--users 32] [--batch-sizes 8,16,32]
                                                [--dtype auto] [--threads 0] [--no-write]

What `python -m core eval` runs for a reasoning variant, minus the store: the checkpoint loaded as
the runner loads it (`--dtype`: auto is `core.llm.precision`'s measured choice), the first `--users`
test users' prompts, then `rank_answer_and_score` with `ReasoningPrefill` (greedy reasoning to
`</think>`, then the constrained top-10 and the 20 candidates' scores in the generation's cache)
once per batch size, on the same users, so the ratios compare like with like. A batch waits for its
longest reasoning, so a larger batch trades padding for fewer, wider forward passes; issue 10 asks
for <= 1 s per user, and `eval --batch-size` is the knob. Also reported: how many users' top-10
differ from the smallest batch size's (left padding changes bf16 rounding; in fp32 it should not),
and the prompts' prefill alone in the same batches (one forward over each batch of prompts, what
every evaluation pass starts with): the floor a faster search or shorter reasoning cannot go below.
Figures go to this script's BENCHMARKS.md section.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_decode  # noqa: E402  (BENCHMARKS.md section writer)
import torch  # noqa: E402

SECTION = "bench_reason_eval"


def run(args) -> dict:
    from core.decode.inputs import encode_prompts, model_device
    from core.decode.trie import SidTrie
    from core.eval.candidates import sample_candidates
    from core.eval.loading import load_for_eval
    from core.eval.sid_likelihood import rank_answer_and_score
    from core.eval.traces import ReasoningPrefill, is_reasoning
    from core.llm.precision import machine

    if args.threads:
        torch.set_num_threads(args.threads)
    loaded = load_for_eval(args.from_run, args.dtype)
    model, tokenizer, meta, sidmap = loaded.model, loaded.tokenizer, loaded.meta, loaded.sidmap
    if not is_reasoning(meta):
        raise SystemExit(f"run {args.from_run!r} is not a reasoning variant")
    split = loaded.split
    examples = split.examples("test")[:args.users]
    prompts = loaded.prompts(examples)
    exclude = [split.seen_before(ex.user_id, "test") for ex in examples]
    lists = [sample_candidates(split, ex.user_id, part="test") for ex in examples]
    trie = SidTrie(sidmap, tokenizer)
    load_start, rows = os.getloadavg()[0], []
    for size in args.batch_sizes:
        reasoner = ReasoningPrefill(model, tokenizer)
        started = time.perf_counter()
        recs, _, _ = rank_answer_and_score(model, tokenizer, trie, prompts, lists, k=10, num_beams=10, exclude=exclude,
                                           batch_size=size, prefill=reasoner)
        seconds = time.perf_counter() - started
        lengths = [len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text, _ in reasoner.pairs]
        started = time.perf_counter()
        with torch.no_grad():
            for start in range(0, len(prompts), size):
                model(**encode_prompts(tokenizer, prompts[start:start + size], model_device(model)), use_cache=True,
                      logits_to_keep=1)
        prefill = time.perf_counter() - started
        rows.append({"batch": size, "seconds": seconds, "top10": [[r.item_id for r in rec] for rec in recs],
                     "tokens": sum(lengths) / len(lengths), "prefill": prefill})
    prompt_tokens = sum(len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts) / len(prompts)
    return {"prompt_tokens": prompt_tokens,
            "run": args.from_run, "precision": loaded.precision, "threads": torch.get_num_threads(), "users": len(examples),
            "rows": rows, "load": (load_start, os.getloadavg()[0]), "cpu": machine()}


def report(r: dict) -> str:
    base = r["rows"][0]
    lines = ["## Reasoning evaluation: seconds per user against the batch size (bench/bench_reason_eval.py)", "",
             f"`.venv/bin/python bench/bench_reason_eval.py --from {r['run']} --users {r['users']} --batch-sizes "
             f"{','.join(str(row['batch']) for row in r['rows'])}` on {datetime.date.today()}; machine: "
             f"{r['cpu']}, torch {torch.__version__}, {r['threads']} thread(s), {r['precision']}; "
             f"the first {r['users']} test users, greedy reasoning + constrained top-10 + 20 candidates' scores in the "
             f"reasoning's cache (what `eval` runs); prompts of {r['prompt_tokens']:.0f} tokens on average. "
             f"Load average {r['load'][0]:.1f} at the start, {r['load'][1]:.1f} at "
             "the end.", "",
             f"| `eval --batch-size` | s/user | vs batch {base['batch']} | mean reasoning tokens | users whose top-10 "
             f"differs from batch {base['batch']}'s | of which the prompts' prefill alone, s/user |", "|---|---|---|---|---|---|"]
    for row in r["rows"]:
        differ = sum(a != b for a, b in zip(row["top10"], base["top10"]))
        lines.append(f"| {row['batch']} | {row['seconds'] / r['users']:.2f} | {base['seconds'] / row['seconds']:.2f}x | "
                     f"{row['tokens']:.0f} | {differ} | "
                     f"{row['prefill'] / r['users']:.2f} ({row['prefill'] / row['seconds']:.0%}) |")
    return "\n".join(lines + [""]) + "\n"


def arguments(parser: argparse.ArgumentParser) -> None:
    """This script's options (besides --no-write, which every bench script has)."""
    parser.add_argument("--from", dest="from_run", default="reason", help="reasoning run to evaluate (default reason)")
    parser.add_argument("--users", type=int, default=32, help="first N test users, the same for every batch size")
    parser.add_argument("--batch-sizes", type=lambda s: [int(x) for x in s.split(",")], default=[8, 16, 32],
                        help="comma-separated batch sizes, the first is the reference (default 8,16,32)")
    from core.llm.precision import CHOICES

    parser.add_argument("--dtype", choices=CHOICES, default="auto", help="precision (default auto)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")


def main() -> None:
    bench_decode.bench_main(__doc__, SECTION, arguments, run, report)


if __name__ == "__main__":
    main()
