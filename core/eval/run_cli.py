"""The top-level `eval` command: evaluate an LM run on the leave-one-out split.

    python -m core eval --run sft --split test [--users 100] [--prompted-candidates] [--json]
"""
from __future__ import annotations

from core.cli import print_json


def cmd_eval(args) -> int:
    from core.eval.runner import evaluate

    result = evaluate(args.run, split=args.split, users=args.users, batch_size=args.batch_size, k=args.k,
                      beams=args.beams, exclude_history=not args.include_history, candidates=not args.no_candidates,
                      prompted=args.prompted_candidates, progress=True)
    if args.json:
        print_json(result)
    else:
        print(f"{result['run']} on {args.split} ({result['users']} users): "
              + ", ".join(f"{k} {v:.4f}" for k, v in result.items() if k not in ("run", "users")))
    return 0


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
    parser.add_argument("--batch-size", type=int, default=16, help="users per forward pass (default: 16)")
    parser.add_argument("--k", type=int, default=10, help="length of the ranked list (default: 10)")
    parser.add_argument("--beams", type=int, default=10, help="beam width, at least k (default: 10)")
    parser.add_argument("--include-history", action="store_true",
                        help="let items the user already saw be recommended (default: excluded)")
    parser.add_argument("--no-candidates", action="store_true", help="skip the 20-candidate protocol")
    parser.add_argument("--prompted-candidates", action="store_true",
                        help="also list the 20 candidates in the prompt and ask for the SID of the one the user picks "
                             "(cand20_prompted_hr@1, cand20_valid_ratio; a second prompt per user, twice as long)")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON (progress bars go to stderr)")
    parser.set_defaults(func=cmd_eval)
