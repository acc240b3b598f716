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
    return sidmap, source, dataset, [list(split.example(u, "test").history) for u in sorted(dataset.sequences, key=int)[:users]]


def timed(fn, repeats: int):
    fn()  # warm-up (allocations, first-call paths)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


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
    ours_s, ours = timed(lambda: constrained_topk(*one, k=10, exclude=exclude[:1])[0], args.repeats)
    hf_s, ref = timed(lambda: hf_constrained_topk(*one, k=10, exclude=exclude[:1])[0], args.repeats)
    overlap = len({r.item_id for r in ours} & {r.item_id for r in ref})
    max_diff = max(abs(a.score - b.score) for a, b in zip(ours, ref))
    # an item in only one list must be a float tie with the other list's last item to count as "same"
    only = [(r, ref[-1]) for r in ours if r.item_id not in {x.item_id for x in ref}] + \
        [(r, ours[-1]) for r in ref if r.item_id not in {x.item_id for x in ours}]
    cutoff_gap = max((abs(r.score - last.score) for r, last in only), default=0.0)
    start = time.perf_counter()
    constrained_topk(model, tokenizer, trie, prompts, k=10, exclude=exclude, batch_size=8)
    batch_per_user = (time.perf_counter() - start) / len(prompts)

    n = args.new_tokens
    gen = dict(max_new_tokens=n, min_new_tokens=n)
    stream_s, text = timed(lambda: "".join(stream_text(model, tokenizer, prompts[0], **gen)), args.repeats)
    ids = tokenizer(prompts[0], add_special_tokens=False, return_tensors="pt")["input_ids"]
    plain_s, _ = timed(lambda: model.generate(input_ids=ids, do_sample=False, **gen), args.repeats)
    return {
        "sid_source": source, "prompt_tokens": int(ids.shape[1]), "threads": args.threads,
        "trie_s": ours_s, "hf_s": hf_s, "speedup": hf_s / ours_s, "overlap": overlap, "same_order":
        [r.item_id for r in ours] == [r.item_id for r in ref], "max_score_diff": max_diff,
        "cutoff_gap": cutoff_gap, "load_before": load_before, "load_after": os.getloadavg()[0],
        "batch_users": len(prompts), "batch_s_per_user": batch_per_user,
        "new_tokens": n, "stream_tok_s": n / stream_s, "generate_tok_s": n / plain_s,
    }


def report(r: dict) -> str:
    today = datetime.date.today().isoformat()
    return "\n".join([
        "## Decoding (bench/bench_decode.py)",
        "",
        f"`.venv/bin/python bench/bench_decode.py` on {today}; machine: 2-core CPU ({platform.machine()}, "
        f"shared), torch {torch.__version__}, {r['threads']} thread(s); SmolLM2-135M-Instruct fp32 with the SID "
        f"tokens of the {r['sid_source']} added (untrained); {r['prompt_tokens']}-token recommendation prompt "
        f"(20-item history), the user's history excluded. Load average {r['load_before']:.1f} at the start, "
        f"{r['load_after']:.1f} at the end (other jobs share the 2 cores: absolute figures are noisy, ratios "
        "come from the same run).",
        "",
        "| measure | value |",
        "|---|---|",
        f"| constrained top-10, trie beam search (10 beams) | {r['trie_s']:.3f} s/user |",
        f"| constrained top-10, HF generate + prefix_allowed_tokens_fn | {r['hf_s']:.3f} s/user |",
        f"| speed-up (same run) | **{r['speedup']:.1f}x** |",
        f"| same items (overlap of the two top-10s) | {r['overlap']}/10, same order: {r['same_order']}, "
        f"max score difference {r['max_score_diff']:.1e}" + (f"; items in one list only score within "
        f"{r['cutoff_gap']:.1e} of the other's 10th (float ties)" if r["overlap"] < 10 else "") + " |",
        f"| trie beam search, {r['batch_users']} users in batches of 8 | {r['batch_s_per_user']:.3f} s/user |",
        f"| streaming (`stream_text`, batch 1, greedy, {r['new_tokens']} tokens) | {r['stream_tok_s']:.1f} tokens/s |",
        f"| plain `model.generate` (same) | {r['generate_tok_s']:.1f} tokens/s |",
        "",
    ])


def write_section(text: str, path: Path = REPO_ROOT / "BENCHMARKS.md") -> None:
    """Replace this script's marked section of BENCHMARKS.md (append it the first time)."""
    block = f"<!-- {SECTION}:start -->\n{text}<!-- {SECTION}:end -->\n"
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\nFigures measured by the scripts in bench/; each script owns its section.\n\n"
    pattern = re.compile(rf"<!-- {SECTION}:start -->.*?<!-- {SECTION}:end -->\n", re.S)
    updated = pattern.sub(lambda _: block, current) if pattern.search(current) else current.rstrip("\n") + "\n\n" + block
    write_text(path, updated)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: steadier than 2 while other jobs share the 2 cores)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions per figure, median reported")
    parser.add_argument("--users", type=int, default=16, help="users for the batched figure")
    parser.add_argument("--new-tokens", type=int, default=64, help="tokens generated in the streaming figures")
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    args = parser.parse_args()
    text = report(run(args))
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
