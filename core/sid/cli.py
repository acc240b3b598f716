"""Commands of the `sids` group: build a dataset's Semantic IDs, print their statistics, look one up.

    python -m core sids build --dataset ml-100k [--method rqvae|rqkmeans] [--levels 3] [--codebook-size 32]
    python -m core sids stats --dataset ml-100k --json
    python -m core sids show --dataset ml-100k --item 1
    python -m core sids ship --dataset ml-100k
"""
from __future__ import annotations

from core.cli import print_json
from core.sid.build import DEFAULT_METHOD, METHODS, build_sids, ensure_sidmap, load_sidmap, ship_sidmap, shipped_path
from core.sid.collisions import METHODS as COLLISION_METHODS
from core.sid.embed import ENCODERS

DATASET_HELP = "dataset name, e.g. ml-100k"
SUMMARY_KEYS = ("dataset", "method", "hash", "items", "unique_sids", "collision_rate_before", "collision_rate_after",
                "reconstruction_error")


def summary(sidmap) -> dict:
    """What `sids stats --json` prints: the stored statistics plus the map's hash."""
    return {"hash": sidmap.hash, "codebook_sizes": list(sidmap.codebook_sizes), **sidmap.stats}


def _output(info: dict, as_json: bool) -> None:
    if as_json:
        print_json(info)
        return
    for key in SUMMARY_KEYS:
        value = info.get(key)
        print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    print("level  codes  used  perplexity  items/code (min/mean/max)  prefixes")
    for lv in info["levels"]:
        ipc = lv["items_per_code"]
        print(f"  {lv['letter']}    {lv['codes']:5d} {lv['used']:5d}  {lv['perplexity']:10.1f}  "
              f"{ipc['min']:5d} / {ipc['mean']:6.1f} / {ipc['max']:4d}        {lv['prefixes']:6d}")


def cmd_build(args) -> int:
    lm = None
    if args.encoder == "lm":  # the CLI wires the LM encoder in: the SID library does not import core.llm
        from core.llm.embed import LmEncoder

        lm = LmEncoder(args.lm)
    options = dict(method=args.method, levels=args.levels, codebook_size=args.codebook_size, seed=args.seed,
                   encoder=args.encoder, collisions=args.collisions, lm=lm)
    sidmap = ensure_sidmap(args.dataset, **options) if args.if_missing else build_sids(args.dataset, **options)
    _output(summary(sidmap), args.json)
    return 0


def cmd_ship(args) -> int:
    sidmap = ship_sidmap(args.dataset)
    print(f"shipped SID map {sidmap.hash} of {args.dataset} to {shipped_path(args.dataset)} (commit it with the checkpoints)")
    return 0


def cmd_stats(args) -> int:
    info = summary(load_sidmap(args.dataset))
    _output(info, args.json)
    return 0


def cmd_show(args) -> int:
    from core.data.registry import load_dataset

    sidmap = load_sidmap(args.dataset)
    sid = sidmap.sid_text(args.item)  # one-line error for an unknown item
    item = load_dataset(args.dataset).items.get(args.item)
    text = item.text() if item else "(item no longer in the dataset)"
    if args.json:
        print_json({"dataset": args.dataset, "item_id": args.item, "text": text, "sid": sid,
                    "codes": list(sidmap.sid(args.item))})
    else:
        print(f"{args.item}\t{text}\t{sid}")
    return 0


def register(groups) -> None:
    sids = groups.add_parser("sids", help="Semantic IDs: build, statistics, look-up",
                             description="Build every item's Semantic ID (embed -> RQ-VAE or RQ-KMeans -> unique "
                                         "codes), print codebook statistics, show one item's SID.")
    commands = sids.add_subparsers(dest="command", metavar="<command>", required=True)

    build = commands.add_parser("build", help="embed items, train the SID tokenizer, save unique SIDs",
                                description="Embed every item, train the tokenizer, resolve collisions and save the "
                                            "SID map (re-running replaces it).")
    build.add_argument("--dataset", required=True, help=DATASET_HELP)
    build.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD,
                       help=f"SID tokenizer (default: {DEFAULT_METHOD})")
    build.add_argument("--levels", type=int, default=3, help="codes per SID (default: 3)")
    build.add_argument("--codebook-size", type=int,
                       help="codes per level, K (default: the power of two nearest sqrt(items), 32 for ml-100k)")
    build.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    build.add_argument("--encoder", choices=ENCODERS, default="minilm",
                       help="item text encoder: packaged MiniLM or the LM's mean-pooled states (default: minilm)")
    build.add_argument("--lm", help="base model of --encoder lm: a local HF folder or a hub name already on disk "
                                    "(default: the embedded SmolLM2-135M)")
    build.add_argument("--collisions", choices=COLLISION_METHODS, default="reassign",
                       help="how colliding items get unique SIDs (default: reassign to free last-level codes)")
    build.add_argument("--json", action="store_true", help="print the statistics as JSON")
    build.add_argument("--if-missing", action="store_true",
                       help="keep the existing map (or install the shipped one) instead of rebuilding")
    build.set_defaults(func=cmd_build)

    ship = commands.add_parser("ship", help="copy the current SID map to data/sidmaps/ to commit with checkpoints",
                               description="Copy the dataset's current SID map to data/sidmaps/<dataset>.json; a clean "
                                           "clone installs it instead of rebuilding, so shipped checkpoints match it.")
    ship.add_argument("--dataset", required=True, help=DATASET_HELP)
    ship.set_defaults(func=cmd_ship)

    stats = commands.add_parser("stats", help="codebook statistics of the built SID map",
                                description="Items, unique SIDs, collision rates before/after resolution, per-level "
                                            "codes used, perplexity and items per code.")
    stats.add_argument("--dataset", required=True, help=DATASET_HELP)
    stats.add_argument("--json", action="store_true", help="print as JSON")
    stats.set_defaults(func=cmd_stats)

    show = commands.add_parser("show", help="print an item and its SID",
                               description="Print one item's text and its SID tokens.")
    show.add_argument("--dataset", required=True, help=DATASET_HELP)
    show.add_argument("--item", required=True, help="item id, e.g. 1")
    show.add_argument("--json", action="store_true", help="print as JSON")
    show.set_defaults(func=cmd_show)
