"""The evaluation's per-batch pass, this tree's code against a baseline checkout, in one run.

    git worktree add /tmp/before <commit>   # the baseline (it must have core.eval.loading)
    .venv/bin/python bench/bench_eval_pass.py --baseline /tmp/before [--from sft,reason] [--users 16]
                                              [--rounds 3] [--threads 1] [--no-write]

What `python -m core eval --prompted-candidates` runs per batch of users, minus the store: on the
recommendation prompt `rank_answer_and_score` (one prefill, then the greedy free answer, the 20
candidates' SID likelihoods and the constrained top-10 with 10 beams, history excluded), and on
the candidate-list prompt `answer_and_score` (greedy pick + the 20 listed SIDs' likelihoods); for a
reasoning variant (`--from reason`) the first pass only, after its greedy reasoning. Each
round runs both codes in fresh worker processes (this script with `--worker`, `core` imported from
the baseline's folder or from this tree) on the same checkpoint, users and threads, alternating
which goes first, so load from other jobs falls on both; medians over the rounds, wall clock and
the worker's CPU time, and whether both codes return the same top-10s and picks. Written to this
script's section of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SECTION = "bench_eval_pass"


def worker(args) -> dict:
    """Time the two passes with the `core` first on sys.path; print a JSON line."""
    import torch

    from core.data.split import Split
    from core.decode.trie import SidTrie
    from core.eval.candidates import sample_candidates
    from core.eval.loading import load_for_eval
    from core.eval.sid_likelihood import answer_and_score, rank_answer_and_score
    from core.eval.traces import ReasoningPrefill, is_reasoning
    from core.llm.prompts import DEFAULT_WINDOW

    torch.set_num_threads(args.threads)
    loaded = load_for_eval(args.from_run, "fp32")
    # not `loaded.split`: the baseline's EvalModel may predate it
    split = Split(loaded.dataset, window=loaded.meta.get("window", DEFAULT_WINDOW))
    examples = split.examples("test")[:args.users]
    lists = [sample_candidates(split, ex.user_id, part="test") for ex in examples]
    exclude = [split.seen_before(ex.user_id, "test") for ex in examples]
    trie = SidTrie(loaded.sidmap, loaded.tokenizer)
    out = {}
    reasoner = ReasoningPrefill(loaded.model, loaded.tokenizer) if is_reasoning(loaded.meta) else None
    passes = [("recommendation", loaded.prompts(examples))]
    if reasoner is None:  # a reasoning variant's candidate-list pass would time its reasoning again
        passes.append(("candidate list", loaded.prompts(examples, lists)))
    for name, prompts in passes:
        wall, cpu = time.perf_counter(), time.process_time()
        if name == "recommendation":
            recs, scores, texts = rank_answer_and_score(loaded.model, loaded.tokenizer, trie, prompts, lists, k=10,
                                                        num_beams=10, exclude=exclude, batch_size=args.users,
                                                        prefill=reasoner)
            result = [[r.item_id for r in rec] for rec in recs] + texts
        else:
            texts, scores = answer_and_score(loaded.model, loaded.tokenizer, trie, prompts, lists, batch_size=args.users)
            result = texts
        out[name] = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "result": result,
                     "tokens": sum(len(loaded.tokenizer(p)["input_ids"]) for p in prompts) / len(prompts),
                     "scores": [round(s, 3) for row in scores for s in row]}
    return out


def run(args) -> dict:
    if not args.baseline:
        raise SystemExit("--baseline FOLDER is required (a git worktree of the commit to compare against)")
    baseline = Path(args.baseline).resolve()
    if not (baseline / "core" / "eval" / "loading.py").exists():
        raise SystemExit(f"{baseline} has no core/eval/loading.py: check out a commit from 6703b00 on")
    codes = {"baseline": baseline, "this tree": REPO}
    runs = {(run, code): [] for run in args.from_run.split(",") for code in codes}
    load_start = os.getloadavg()[0]
    for run in args.from_run.split(","):
        for r in range(args.rounds):
            for code in (list(codes) if r % 2 == 0 else list(codes)[::-1]):
                env = {**os.environ, "PYTHONPATH": str(codes[code]), "SIDLENS_DATA_DIR": str(REPO / "data"),
                       "HF_HUB_OFFLINE": "1"}
                cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--from", run,
                       "--users", str(args.users), "--threads", str(args.threads)]
                done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=codes[code], check=True)
                runs[run, code].append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {"runs_from": args.from_run, "users": args.users, "threads": args.threads, "rounds": args.rounds,
            "commit": _commit(baseline), "runs": runs, "load": (load_start, os.getloadavg()[0])}


def _commit(folder: Path) -> str:
    return subprocess.run(["git", "-C", str(folder), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip() or "?"


def report(r: dict) -> str:
    from core.llm.precision import machine

    lines = ["## The evaluation's per-batch pass (bench/bench_eval_pass.py)", "",
             f"`.venv/bin/python bench/bench_eval_pass.py --baseline <worktree at {r['commit']}> --from {r['runs_from']} "
             f"--users {r['users']} --rounds {r['rounds']} --threads {r['threads']}` on {datetime.date.today()}; machine: "
             f"{machine()}, fp32, {r['threads']} thread(s); one batch of the first {r['users']} test users. Load average "
             f"{r['load'][0]:.1f} at the start, {r['load'][1]:.1f} at the end (other jobs on the 2 cores inflate both codes "
             "alike: the rounds alternate which goes first).", "",
             f"| run | prompt | mean prompt tokens | baseline {r['commit']} s/user (CPU) | this tree s/user (CPU) | "
             "speed-up (wall) | same top-10s / answers | largest score difference |", "|---|---|---|---|---|---|---|---|"]
    for run in r["runs_from"].split(","):
        base, new = r["runs"][run, "baseline"], r["runs"][run, "this tree"]
        for name in base[0]:
            def med(rows, key, name=name):
                return statistics.median(x[name][key] for x in rows) / r["users"]
            same = all(x[name]["result"] == base[0][name]["result"] for x in new)
            diff = max((abs(a - b) for a, b in zip(base[0][name]["scores"], new[0][name]["scores"])), default=0.0)
            lines.append(f"| {run} | {name} | {base[0][name]['tokens']:.0f} | {med(base, 'wall'):.2f} "
                         f"({med(base, 'cpu'):.2f}) | {med(new, 'wall'):.2f} ({med(new, 'cpu'):.2f}) | "
                         f"{med(base, 'wall') / med(new, 'wall'):.2f}x | {same} | {diff:.3f} |")
    return "\n".join(lines + [""]) + "\n"


def arguments(parser: argparse.ArgumentParser) -> None:
    """This script's options (besides --no-write, which every bench script has)."""
    parser.add_argument("--baseline", help="folder of a checkout to compare against (a git worktree)")
    parser.add_argument("--from", dest="from_run", default="sft,reason",
                        help="comma-separated runs to evaluate; a reasoning run times its first pass only (default sft,reason)")
    parser.add_argument("--users", type=int, default=16, help="first N test users, one batch (default 16)")
    parser.add_argument("--rounds", type=int, default=3, help="worker runs per code, medians reported (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per worker (default 1)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)


def main() -> None:
    if "--worker" in sys.argv:
        parser = argparse.ArgumentParser()
        arguments(parser)
        print(json.dumps(worker(parser.parse_args())))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.path.insert(0, str(REPO))
    import bench_decode

    bench_decode.bench_main(__doc__, SECTION, arguments, run, report)


if __name__ == "__main__":
    main()
