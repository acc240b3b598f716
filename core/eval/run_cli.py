"""The top-level `eval` command: evaluate an LM run on the leave-one-out split.

    python -m core eval --run sft --split test [--users 100] [--prompted-candidates] [--json]
    python -m core eval --run sft --probe alignment [--items 200] [--json]   # core.eval.alignment
    python -m core eval --run reason --reflag [--users 200]   # stored traces, today's faithfulness checker
"""
from __future__ import annotations

from core.cli import print_json
from core.llm.precision import CHOICES


def _report(args, result: dict, head: str, shown) -> int:
    """Print `result` as JSON (--json) or as `head` followed by the metrics `shown(key)` selects."""
    if args.json:
        print_json(result)
    else:
        print(head + ", ".join(f"{k} {v:.4f}" for k, v in result.items() if shown(k)))
    return 0


def cmd_eval(args) -> int:
    if args.reflag:
        from core.eval.traces import reflag
        from core.store import Store

        result = reflag(Store(), args.run, f"{args.split}@{args.users}" if args.users else args.split)
        return _report(args, result, f"{result['run']} on {result['split']} ({result['users']} traces, flags "
                                     "re-checked): ", lambda k: k.startswith("flag_"))
    if args.probe == "alignment":
        from core.eval.alignment import evaluate_alignment

        result = evaluate_alignment(args.run, items=args.items, batch_size=args.batch_size or 64, dtype=args.dtype)
        return _report(args, result, f"{result['run']} over {result['items']} items: ", lambda k: k.startswith("align_"))
    from core.eval.runner import evaluate

    result = evaluate(args.run, split=args.split, users=args.users, batch_size=args.batch_size or 16, k=args.k,
                      beams=args.beams, exclude_history=not args.include_history, candidates=not args.no_candidates,
                      prompted=args.prompted_candidates, dtype=args.dtype, progress=True)
    return _report(args, result, f"{result['run']} on {args.split} ({result['users']} users, {result['precision']}): ",
                   lambda k: k not in ("run", "users", "precision"))


def register(groups) -> None:
    parser = groups.add_parser("eval", help="evaluate an LM run (HR/NDCG@K by constrained beam search, invalid rate, "
                                            "20-candidate HR@1)",
                               description="Rank all items for each user of the split with constrained beam search "
                                           "(earlier items excluded), measure the invalid-SID rate of free generation "
                                           "and the 20-candidate HR@1, and store the results with the run.")
    parser.add_argument("--run", required=True, help="run name (a trained run, or a committed data/checkpoints/<run>)")
    parser.add_argument("--split", choices=["test", "valid"], default="test", help="which target (default: test)")
    parser.add_argument("--users", type=int, help="evaluate only the first N users of the split (default: all); "
                                                  "stored under split name '<split>@N'")
    parser.add_argument("--batch-size", type=int, help="users (items for --probe) per forward pass "
                                                       "(default: 16 users, 64 items)")
    parser.add_argument("--k", type=int, default=10, help="length of the ranked list (default: 10)")
    parser.add_argument("--beams", type=int, default=10, help="beam width, at least k (default: 10)")
    parser.add_argument("--include-history", action="store_true",
                        help="let items the user already saw be recommended (default: excluded)")
    parser.add_argument("--no-candidates", action="store_true", help="skip the 20-candidate protocol")
    parser.add_argument("--prompted-candidates", action="store_true",
                        help="also list the 20 candidates in the prompt and ask for the SID of the one the user picks "
                             "(cand20_prompted_hr@1, cand20_valid_ratio, and cand20_prompted_lik_hr@1: the listed "
                             "SIDs ranked by likelihood under it; a second prompt per user, twice as long)")
    parser.add_argument("--probe", choices=["alignment"],
                        help="instead of ranking, probe what the model knows of each SID over the catalogue: "
                             "SID->title, title->SID (and its level 1), SID->genres F1 (core.eval.alignment)")
    parser.add_argument("--reflag", action="store_true",
                        help="run no model: check the stored reasoning traces of --split (--users N: the split "
                             "'<split>@N') again with today's faithfulness checker and replace their flags and flag_* "
                             "metrics (core.eval.traces.reflag)")
    parser.add_argument("--items", type=int, help="--probe alignment: only the first N catalogue items (default: all)")
    parser.add_argument("--dtype", choices=CHOICES, default="auto",
                        help="compute precision (auto = bf16 where a measured probe finds it faster, "
                             "core.llm.precision; recorded with the results)")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON (progress bars go to stderr)")
    parser.set_defaults(func=cmd_eval)
