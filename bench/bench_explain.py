"""Cost of explaining one recommendation on the Reasoning page: leave-one-out attribution of a
20-item history and the SID beliefs, against the constrained top-10 search of the same prompt.

    .venv/bin/python bench/bench_explain.py [--run sft] [--threads 2] [--repeats 3] [--no-write]

Model: the checkpoint of `--run` (default the shipped sft), merged as the app loads it; the history
is the first ml-100k test user's (20 items, the prompt's window). Attribution is
`core.explain.leave_one_out` (the full prompt once, then each of the 20 leave-one-out prompts
from the item it lacks on, on the full prompt's KV cache) for the top-1 item;
beliefs are `core.explain.sid_beliefs` for the top-10. Each is reported in seconds and as a ratio
to the top-10 search measured in the same run. Target (issue 12): attribution <= 3 s for a 20-item
history on 2 cores.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_decode  # noqa: E402  (timing helper and BENCHMARKS.md section writer)
import torch  # noqa: E402

SECTION = "bench_explain"


def run(args) -> dict:
    from core import explain, recommend
    from core.decode.trie import SidTrie
    from core.llm.adapter import load_checkpoint
    from core.llm.prompts import history_window
    from core.runs import resolve_repo_path, resolve_run
    from core.store import Store

    torch.set_num_threads(args.threads)
    store = Store()
    row = resolve_run(store, args.run)
    sidmap, _, dataset, histories = bench_decode.sid_map_and_histories(1)
    model, tokenizer, meta = load_checkpoint(resolve_repo_path(row["checkpoint"]), sidmap, merge=True)
    model.eval()
    trie = SidTrie(sidmap, tokenizer)
    history = histories[0][-history_window(meta):]
    prompt, _ = recommend.prompt_for(tokenizer, meta, sidmap, dataset, history)
    load = os.getloadavg()[0]
    search_wall, search_cpu, (topk, _) = bench_decode.timed(
        lambda: recommend.rank(model, tokenizer, trie, prompt, "", history), args.repeats)
    target = topk[0]["item_id"]
    attr_wall, attr_cpu, attribution = bench_decode.timed(
        lambda: explain.leave_one_out(model, tokenizer, meta, sidmap, dataset, history, target), args.repeats)
    belief_wall, belief_cpu, beliefs = bench_decode.timed(
        lambda: explain.sid_beliefs(model, tokenizer, dataset, sidmap, [r["item_id"] for r in topk], trie),
        args.repeats)
    return {"run": args.run, "threads": args.threads, "history": len(history), "prompts": len(attribution.effects) + 1,
            "search_wall": search_wall, "search_cpu": search_cpu, "attr_wall": attr_wall, "attr_cpu": attr_cpu,
            "belief_wall": belief_wall, "belief_cpu": belief_cpu, "beliefs": len(beliefs),
            "load_before": load, "load_after": os.getloadavg()[0], "repeats": args.repeats}


def report(r: dict) -> str:
    today = datetime.date.today().isoformat()
    return "\n".join([
        "## Explaining a recommendation (bench/bench_explain.py)",
        "",
        f"`.venv/bin/python bench/bench_explain.py --run {r['run']} --threads {r['threads']}` on {today}; machine: "
        f"2-core CPU ({platform.machine()}, {platform.processor() or 'cpu'}), torch {torch.__version__}, "
        f"{r['threads']} thread(s), checkpoint `{r['run']}` merged, fp32; a {r['history']}-item history. Median of "
        f"{r['repeats']} after a warm-up; load average {r['load_before']:.1f} at the start, {r['load_after']:.1f} "
        "at the end (other jobs on the machine inflate wall clock; CPU time is this process's).",
        "",
        "| measure | wall clock | CPU time | vs the top-10 search |",
        "|---|---|---|---|",
        f"| constrained top-10 search (the baseline) | {r['search_wall']:.2f} s | {r['search_cpu']:.2f} s | 1.0x |",
        f"| leave-one-out attribution ({r['prompts']} prompts scored) | {r['attr_wall']:.2f} s | {r['attr_cpu']:.2f} s "
        f"| {r['attr_wall'] / r['search_wall']:.1f}x |",
        f"| SID beliefs for the top-10 ({r['beliefs']} items, 2 greedy answers + 1 search each) | "
        f"{r['belief_wall']:.2f} s | {r['belief_cpu']:.2f} s | {r['belief_wall'] / r['search_wall']:.1f}x |",
        "",
        f"Target: attribution <= 3 s for a 20-item history on 2 cores: "
        f"{'met' if r['attr_wall'] <= 3 else 'not met'} here ({r['attr_wall']:.2f} s).",
        "",
    ])


def arguments(parser: argparse.ArgumentParser) -> None:
    """This script's options (besides --no-write, which every bench script has)."""
    parser.add_argument("--run", default="sft", help="checkpoint to explain with (default: sft)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions, median reported")


def main() -> None:
    bench_decode.bench_main(__doc__, SECTION, arguments, run, report)


if __name__ == "__main__":
    main()
