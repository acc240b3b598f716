"""Commands of the `baselines` and `runs` groups.

    python -m core baselines run --dataset ml-100k [--only popularity|sasrec] [--json]
    python -m core runs list [--dataset ml-100k] [--json]
    python -m core runs compare sft reason [--split test@200] [--metrics hr@10,ndcg@10] [--json]
    python -m core runs ship sft-pick --as sft

Baselines are stored as runs named "popularity" and "sasrec" (stage "baseline") with the same
metric keys and per-user results as every LM evaluation, so `runs list` and the pages compare them.
"""
from __future__ import annotations

import argparse
import sys

from core.cli import print_json
from core.cli_options import add_dataclass_options, dataclass_values
from core.data.registry import load_dataset
from core.data.split import Split
from core.errors import SidLensError
from core.eval.ranking import CAND_KEY, RankingConfig, SASRecConfig
from core.store import Store

BASELINES = ("popularity", "sasrec")


def _baseline(name: str):
    """The baseline's run function (imported on use: SASRec needs torch, the CLI's start does not)."""
    if name == "sasrec":
        from core.eval.sasrec import run_sasrec
        return run_sasrec
    from core.eval.popularity import run_popularity
    return run_popularity
SHOWN_METRICS = ["hr@1", "hr@5", "hr@10", "ndcg@1", "ndcg@5", "ndcg@10", CAND_KEY]


def _config_options(parser: argparse.ArgumentParser) -> None:
    """One option per SASRecConfig field (RankingConfig's fields included), help from the dataclass."""
    add_dataclass_options(parser.add_argument_group("evaluation and SASRec options"), SASRecConfig,
                          custom={"exclude_seen": {"flag": "--include-seen", "action": "store_false",
                                                   "help": "keep the items a user saw before the target in the ranking"}})


def _format_table(rows: list[dict], columns: list[str]) -> str:
    cells = [[f"{r[c]:.4f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def cmd_baselines_run(args) -> int:
    if args.window < 1:
        raise SidLensError(f"--window must be at least 1, not {args.window}")
    split = Split(load_dataset(args.dataset), window=args.window)
    store = Store()
    sasrec_config = SASRecConfig(**dataclass_values(args, SASRecConfig))
    ranking_config = RankingConfig(**dataclass_values(args, RankingConfig))
    configs = {"popularity": ranking_config, "sasrec": sasrec_config}
    names = [args.only] if args.only else list(BASELINES)
    summary = {name: _baseline(name)(store, split, configs[name]) for name in names}
    if args.json:
        print_json({name: {"run": name, "dataset": args.dataset, "users": len(split.examples("test")),
                           "test": out["test"], "valid": out["valid"], "fit": out["fit"]}
                    for name, out in summary.items()})
    else:
        print(_format_table([{"run": name, **out["test"]} for name, out in summary.items()],
                            ["run"] + SHOWN_METRICS))
    return 0


def list_runs(store: Store, dataset: str | None = None) -> list[dict]:
    """Every run (optionally of one dataset), newest first, with its metrics on the whole test split
    (`test`) and on every split it was evaluated on (`metrics`: "test@200" is the first 200 test users,
    where reasoning variants, slow to evaluate on a CPU, are compared)."""
    where, params = ("dataset = ?", [dataset]) if dataset else (None, None)
    out = []
    for r in store.rows("runs", where, params, order_by="updated desc, name"):
        by_split: dict[str, dict] = {}
        for m in store.rows("metrics", "run = ?", [r["name"]], order_by="split, name"):
            by_split.setdefault(m["split"], {})[m["name"]] = m["value"]
        out.append({"name": r["name"], "stage": r["stage"], "parent": r["parent"], "dataset": r["dataset"],
                    "status": r["status"], "updated": r["updated"], "test": by_split.get("test", {}),
                    "metrics": by_split})
    return out


def cmd_runs_list(args) -> int:
    """Print the runs; shipped checkpoints the store lacks (a clean clone) are registered first."""
    from core.runs import register_shipped
    from core.variants import widest_test_split

    store = Store()
    for problem in register_shipped(store):
        print(f"warning: {problem}", file=sys.stderr)
    runs = list_runs(store, args.dataset)
    if args.json:
        print_json(runs)
    elif not runs:
        print("no runs yet")
    else:
        rows = []
        for r in runs:  # the whole test split, else the largest first-N-users subset evaluated
            split = widest_test_split(r["metrics"]) or ""
            rows.append({**{k: v for k, v in r.items() if k not in ("test", "metrics")}, "split": split,
                         **r["metrics"].get(split, {})})
        print(_format_table(rows, ["name", "stage", "parent", "dataset", "status", "split"] + SHOWN_METRICS))
    return 0


def _user_rows(store: Store, run: str, split: str | None) -> tuple[str, dict]:
    """(split used, {user_id: per-user result row}) of a run: `split`, else its widest test split."""
    from core.eval.results import load_results
    from core.variants import widest_test_split

    store.run(run)
    if split is None:
        split = widest_test_split(r["split"] for r in store.rows("metrics", "run = ?", [run]))
        if split is None:
            raise SidLensError(f"run {run!r} has no test results: evaluate it first (python -m core eval --run {run})")
    return split, {r["user_id"]: r for r in load_results(store, run, split).per_user}


def cmd_runs_compare(args) -> int:
    """Two runs on the users both were evaluated on: each metric with its 95% CI, and the paired CI
    of the difference (core.eval.significance)."""
    from core.eval.significance import compare_users
    from core.runs import register_shipped

    store = Store()
    register_shipped(store)
    split_a, a = _user_rows(store, args.a, args.split)
    split_b, b = _user_rows(store, args.b, args.split)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    table = compare_users(a, b, metrics, seed=args.seed)
    if args.json:
        print_json({"a": args.a, "b": args.b, "split_a": split_a, "split_b": split_b,
                    "users": next(iter(table.values()))["diff"].users,
                    "metrics": {m: {side: vars(iv) | {"spans_zero": iv.spans_zero} for side, iv in row.items()}
                                for m, row in table.items()}})
        return 0
    users = next(iter(table.values()))["diff"].users
    print(f"{args.a} ({split_a}) vs {args.b} ({split_b}) on the {users} users both were evaluated on; 95% CIs")
    for metric, row in table.items():
        a_iv, b_iv, d = row["a"], row["b"], row["diff"]
        print(f"  {metric}: {a_iv.value:.4f} [{a_iv.low:.4f}, {a_iv.high:.4f}] vs {b_iv.value:.4f} "
              f"[{b_iv.low:.4f}, {b_iv.high:.4f}]; difference {d.value:+.4f} [{d.low:+.4f}, {d.high:+.4f}]: {d.reading()}")
    return 0


def cmd_runs_ship(args) -> int:
    """Ship a run's checkpoint under another name (core.runs.ship)."""
    from core.runs import relative_to_repo, ship

    target = ship(Store(), args.run, args.name)
    print(f"shipped {args.run} as {args.name}: {relative_to_repo(target)}")
    return 0


def register(groups) -> None:
    baselines = groups.add_parser("baselines", help="popularity and SASRec baselines on the leave-one-out split",
                                  description="Train and evaluate the baselines on the same split as the LM runs.")
    commands = baselines.add_subparsers(dest="command", metavar="<command>", required=True)
    run = commands.add_parser("run", help="fit, evaluate (valid and test) and store the baselines as runs",
                              description="Fit the popularity and SASRec baselines, rank all items for every "
                                          "user (seen items excluded), compute HR@K, NDCG@K and the 20-candidate "
                                          "HR@1, and store them as runs 'popularity' and 'sasrec'.")
    run.add_argument("--dataset", default="ml-100k", help="dataset name (default: ml-100k)")
    run.add_argument("--only", choices=sorted(BASELINES), help="run one baseline only (default: both)")
    run.add_argument("--window", type=int, default=20, help="history window of the split (default: 20)")
    run.add_argument("--json", action="store_true", help="print valid and test metrics of each baseline as JSON")
    _config_options(run)
    run.set_defaults(func=cmd_baselines_run)

    runs = groups.add_parser("runs", help="list training and evaluation runs",
                             description="Runs recorded in the store (training, evaluation, baselines).")
    commands = runs.add_subparsers(dest="command", metavar="<command>", required=True)
    listing = commands.add_parser("list", help="runs with stage, parent, dataset, status and test metrics",
                                  description="Every run in the store, newest first, with its test metrics.")
    listing.add_argument("--dataset", help="only runs of this dataset")
    listing.add_argument("--json", action="store_true", help="print the runs as a JSON list")
    listing.set_defaults(func=cmd_runs_list)
    compare = commands.add_parser("compare", help="two runs on the same users: metrics with 95%% CIs and the paired "
                                                  "CI of their difference",
                                  description="Bootstrap 95% CIs of each run's metrics and a paired bootstrap CI of "
                                              "the difference, over the users both runs were evaluated on.")
    compare.add_argument("a", help="first run")
    compare.add_argument("b", help="second run (the difference is a - b)")
    compare.add_argument("--split", help="split of both runs, e.g. test or test@200 (default: each run's widest "
                                         "test split; only users in both count)")
    compare.add_argument("--metrics", default="hr@10,ndcg@10", help="comma-separated hr@K / ndcg@K, and "
                         "cand20_prompted_hr@1 / cand20_valid_ratio / cand20_prompted_lik_hr@1 for runs evaluated "
                         "with --prompted-candidates "
                         "(default: hr@10,ndcg@10)")
    compare.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling (default: 0)")
    compare.add_argument("--json", action="store_true", help="print the intervals as JSON")
    compare.set_defaults(func=cmd_runs_compare)
    shipping = commands.add_parser("ship", help="copy a run's checkpoint to data/checkpoints/NAME under that name",
                                   description="Ship a run trained under its own name (e.g. sft-pick) as NAME (e.g. "
                                               "sft): its folder is copied with the run name rewritten (the card keeps "
                                               "the training commands and adds this one), replaces the folder shipped "
                                               "as NAME, and the store's NAME is registered from it.")
    shipping.add_argument("run", help="the run to ship (a trained run or a checkpoint folder)")
    shipping.add_argument("--as", dest="name", required=True, help="the name it ships as")
    shipping.set_defaults(func=cmd_runs_ship)
