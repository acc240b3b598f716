"""Decoding speed on the real SmolLM2-135M (fp32, CPU): trie beam search vs HF, streaming vs generate.

    .venv/bin/python bench/bench_decode.py [--threads 1] [--repeats 3] [--no-write]

Figures, all measured in this one run on the same loaded model:
- one user's constrained top-10 (10 beams) with `constrained_topk` vs `hf_constrained_topk`:
  seconds each (median of --repeats after one warm-up), the ratio, and the overlap of the two
  top-10 item sets (they should be the same items);
- `constrained_topk` over --users users in batches of 8: seconds per user (what evaluation pays);
- `stream_text` tokens/s at batch 1 vs plain `model.generate` (greedy, --new-tokens tokens, EOS
  suppressed until then so both produce the same number of tokens).
Prompts are real ml-100k test histories. The SID tokens come from the real ml-100k SID map when it
has been built (`python -m core sids build`), otherwise from random 3-level codes (32 per level)
over the same 1,682 items (same vocabulary growth, same trie depth). The base model has not been
trained on SIDs (new rows are initialised from item titles): this measures speed, not quality. The figures are
printed and written to this script's section of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import re
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from core.atomic import write_text  # noqa: E402
from core.decode.beam import constrained_topk, hf_constrained_topk  # noqa: E402
from core.decode.stream import stream_text  # noqa: E402
from core.decode.trie import SidTrie  # noqa: E402
from core.errors import SidLensError  # noqa: E402
from core.llm.backbone import load_base  # noqa: E402
from core.llm.prompts import recommendation_messages, render_prompt  # noqa: E402
from core.llm.sid_tokens import add_sid_tokens  # noqa: E402
from core.paths import REPO_ROOT  # noqa: E402
from core.sid.sidmap import SidMap  # noqa: E402

SECTION = "bench_decode"


def synthetic_sidmap(item_ids: list[str], seed: int = 0) -> SidMap:
    """Distinct random 3-level codes (32 per level) for these items: stands in until SIDs are built."""
    rng = random.Random(seed)
    seen: set[tuple[int, ...]] = set()
    while len(seen) < len(item_ids):
        seen.add((rng.randrange(32), rng.randrange(32), rng.randrange(32)))
    return SidMap("synthetic", "random", [32, 32, 32], dict(zip(item_ids, sorted(seen, key=lambda _: rng.random()))))


def sid_map_and_histories(users: int):
    """(SID map, its description, dataset, test histories of the first `users` users) for ml-100k.

    Falls back to random codes over the real items when no SID map has been built.
    """
    from core.data.registry import load_dataset
    from core.data.split import Split
    from core.sid.build import load_sidmap

    dataset = load_dataset("ml-100k")
    try:
        sidmap, source = load_sidmap("ml-100k"), "real ml-100k SID map"
    except SidLensError:
        sidmap = synthetic_sidmap(sorted(dataset.items, key=int))
        source = f"synthetic map (random 32x32x32 codes over the {len(dataset.items):,} ml-100k items)"
    split = Split(dataset)
    first_users = sorted(dataset.sequences, key=int)[:users]
    return sidmap, source, dataset, [list(split.example(u, "test").history) for u in first_users]


def timed(fn, repeats: int = 1, warm_up: bool = True):
    """(median wall seconds, median CPU seconds of this process, last result) over `repeats` calls.

    CPU time counts every thread of this process and none of the other jobs on the machine, so on a
    shared machine it is the steadier estimate of what the work costs (with 1 thread, roughly the
    wall time on an idle core)."""
    if warm_up:
        fn()  # allocations, first-call paths
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    model, tokenizer = load_base()
    sidmap, source, dataset, histories = sid_map_and_histories(args.users)
    # rows from item titles give the untrained model distinct SID scores; mean-resized random rows
    # leave all SIDs within ~1e-4 of each other, and the two searches would be compared on float noise
    add_sid_tokens(model, tokenizer, sidmap, {i: item.text() for i, item in dataset.items.items()})
    trie = SidTrie(sidmap, tokenizer)
    prompts = [render_prompt(tokenizer, recommendation_messages(sidmap, dataset, h)[0]) for h in histories]
    exclude = [set(h) for h in histories]
    one = (model, tokenizer, trie, prompts[:1])
    r = {"sid_source": source, "threads": args.threads, "load_before": load_before, "users": len(prompts)}
    r["trie_wall"], r["trie_cpu"], ours = timed(lambda: constrained_topk(*one, exclude=exclude[:1])[0], args.repeats)
    r["hf_wall"], r["hf_cpu"], ref = timed(lambda: hf_constrained_topk(*one, exclude=exclude[:1])[0], args.repeats)
    r["overlap"] = len({x.item_id for x in ours} & {x.item_id for x in ref})
    r["same_order"] = [x.item_id for x in ours] == [x.item_id for x in ref]
    r["max_score_diff"] = max(abs(a.score - b.score) for a, b in zip(ours, ref))
    # an item in only one list must be a float tie with the other list's last item to count as "same"
    only = [(x, ref[-1]) for x in ours if x.item_id not in {y.item_id for y in ref}] + \
        [(x, ours[-1]) for x in ref if x.item_id not in {y.item_id for y in ours}]
    r["cutoff_gap"] = max((abs(x.score - last.score) for x, last in only), default=0.0)
    wall, cpu, _ = timed(lambda: constrained_topk(model, tokenizer, trie, prompts, exclude=exclude), warm_up=False)
    r["batch_wall"], r["batch_cpu"] = wall / len(prompts), cpu / len(prompts)

    n = r["new_tokens"] = args.new_tokens
    gen = dict(max_new_tokens=n, min_new_tokens=n)
    ids = tokenizer(prompts[0], add_special_tokens=False, return_tensors="pt")["input_ids"]
    r["prompt_tokens"] = int(ids.shape[1])
    r["stream_wall"], r["stream_cpu"], _ = timed(lambda: "".join(stream_text(model, tokenizer, prompts[0], **gen)),
                                                 args.repeats)
    r["plain_wall"], r["plain_cpu"], _ = timed(lambda: model.generate(input_ids=ids, do_sample=False, **gen),
                                               args.repeats)
    r["load_after"] = os.getloadavg()[0]
    return r


def report(r: dict) -> str:
    today = datetime.date.today().isoformat()
    n = r["new_tokens"]
    return "\n".join([
        "## Decoding (bench/bench_decode.py)",
        "",
        f"`.venv/bin/python bench/bench_decode.py` on {today}; machine: 2-core CPU ({platform.machine()}, "
        f"shared), torch {torch.__version__}, {r['threads']} thread(s); SmolLM2-135M-Instruct fp32 with the SID "
        f"tokens of the {r['sid_source']} added (untrained); {r['prompt_tokens']}-token recommendation prompt "
        f"(20-item history), the user's history excluded. Load average {r['load_before']:.1f} at the start, "
        f"{r['load_after']:.1f} at the end: other jobs shared the 2 cores, so wall-clock figures are inflated; "
        "CPU time is this process's own, the closer estimate for an idle machine. Ratios come from one run.",
        "",
        "| measure | wall clock | CPU time |",
        "|---|---|---|",
        f"| constrained top-10, trie beam search (10 beams), 1 user | {r['trie_wall']:.2f} s | {r['trie_cpu']:.2f} s |",
        f"| constrained top-10, HF generate + prefix_allowed_tokens_fn, 1 user | {r['hf_wall']:.2f} s | "
        f"{r['hf_cpu']:.2f} s |",
        f"| speed-up | **{r['hf_wall'] / r['trie_wall']:.1f}x** | **{r['hf_cpu'] / r['trie_cpu']:.1f}x** |",
        f"| trie beam search, {r['users']} users in batches of 8 | {r['batch_wall']:.2f} s/user | "
        f"{r['batch_cpu']:.2f} s/user |",
        f"| ... projected for the 943 test users | {943 * r['batch_wall'] / 60:.1f} min | "
        f"{943 * r['batch_cpu'] / 60:.1f} min |",
        f"| streaming (`stream_text`, batch 1, greedy, {n} tokens) | {n / r['stream_wall']:.1f} tokens/s | "
        f"{n / r['stream_cpu']:.1f} tokens/CPU-s |",
        f"| plain `model.generate` (same) | {n / r['plain_wall']:.1f} tokens/s | "
        f"{n / r['plain_cpu']:.1f} tokens/CPU-s |",
        "",
        f"Same items: the two top-10s overlap {r['overlap']}/10 (same order: {r['same_order']}); the largest "
        f"score difference is {r['max_score_diff']:.1e} (float rounding: HF prefills 10 copies of the prompt "
        "as one batch)" + (f"; items in one list only score within {r['cutoff_gap']:.1e} of the other's 10th "
                           "(ties)" if r["overlap"] < 10 else "") + ".",
        "",
    ])


def bench_main(doc: str, section: str, arguments, run, report) -> None:
    """The command line every bench script shares: its own options (`arguments(parser)`) and
    --no-write; runs `run(args)`, prints `report(...)` and writes it as `section` of BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    arguments(parser)
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    args = parser.parse_args()
    text = report(run(args))
    print(text)
    if not args.no_write:
        write_section(text, section)


def write_section(text: str, section: str | None = None, path: Path = REPO_ROOT / "BENCHMARKS.md") -> None:
    """Replace the marked `section` of BENCHMARKS.md (append it the first time); other benchmark
    scripts call this with their own section name (default: this script's)."""
    section = section or SECTION
    block = f"<!-- {section}:start -->\n{text}<!-- {section}:end -->\n"
    header = "# Benchmarks\n\nFigures measured by the scripts in bench/; each script owns its section.\n\n"
    current = path.read_text(encoding="utf-8") if path.exists() else header
    pattern = re.compile(rf"<!-- {section}:start -->.*?<!-- {section}:end -->\n", re.S)
    if pattern.search(current):
        updated = pattern.sub(lambda _: block, current)
    else:
        updated = current.rstrip("\n") + "\n\n" + block
    write_text(path, updated)


def arguments(parser: argparse.ArgumentParser) -> None:
    """This script's options (besides --no-write, which every bench script has)."""
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: steadier than 2 while other jobs share the 2 cores)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions per figure, median reported")
    parser.add_argument("--users", type=int, default=16, help="users for the batched figure")
    parser.add_argument("--new-tokens", type=int, default=64, help="tokens generated in the streaming figures")


def main() -> None:
    bench_main(__doc__, SECTION, arguments, run, report)


if __name__ == "__main__":
    main()
