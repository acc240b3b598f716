"""Commands of the `corpus` group: build the stage-1 alignment corpus and look at it.

  python -m core corpus build --dataset ml-100k [--teacher metadata|openai] [--base-url URL --model NAME]
                              [--max-examples N] [--weights 1=0.5,7=0] [--seed S] [--json]
  python -m core corpus show --dataset ml-100k --task 2 --n 3
"""
from __future__ import annotations

import argparse
import itertools
from dataclasses import fields

from core.corpus.build import TASKS, CorpusConfig, build_corpus, corpus_info, read_corpus
from core.corpus.records import parse_task_values
from core.errors import SidLensError

HELP = {f.name: f.metadata["help"] for f in fields(CorpusConfig)}


def cmd_build(args) -> int:
    from core.cli import print_json
    report = build_corpus(args.dataset, teacher=args.teacher, weights=parse_task_values(args.weights),
                          max_examples=args.max_examples, seed=args.seed, base_url=args.base_url, model=args.model,
                          api_key_env=args.api_key_env, window=args.window)
    if args.json:
        print_json(report.to_json())
        return 0
    print(f"corpus of {report.dataset}: {report.total} records in {report.seconds:.1f} s -> {report.path}")
    for task, count in sorted(report.counts.items()):
        print(f"  task {task} {TASKS[task].name:<28} {count:>7}")
    return 0


def cmd_show(args) -> int:
    info = corpus_info(args.dataset)
    if args.task is not None and args.task not in TASKS:
        raise SidLensError(f"unknown corpus task {args.task} (tasks are {', '.join(map(str, TASKS))})")
    shown = list(itertools.islice(read_corpus(args.dataset, args.task), max(0, args.n)))
    if not shown:
        print(f"no records of task {args.task} in the corpus of {args.dataset} (counts: {info['counts']})")
    for n, rec in enumerate(shown, 1):
        print(f"--- task {rec['task']} ({TASKS[rec['task']].name}), phrasing {rec['template']}, "
              f"user {rec['user_id'] or '-'}, item {rec['item_id'] or '-'}  [{n}/{len(shown)}]")
        for message in rec["prompt"] + rec["completion"]:
            print(f"[{message['role']}]\n{message['content']}")
    return 0


def register(groups) -> None:
    parser = groups.add_parser("corpus", help="stage-1 alignment corpus: build it, show examples")
    commands = parser.add_subparsers(dest="command", metavar="<command>", required=True)

    build = commands.add_parser("build", help="write the multi-task SID alignment corpus (JSONL) and its counts",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    build.add_argument("--dataset", default=CorpusConfig.dataset, help=HELP["dataset"])
    build.add_argument("--teacher", choices=["metadata", "openai"], default=CorpusConfig.teacher, help=HELP["teacher"])
    build.add_argument("--base-url", help=HELP["base_url"])
    build.add_argument("--model", help=HELP["model"])
    build.add_argument("--api-key-env", default=CorpusConfig.api_key_env, help=HELP["api_key_env"])
    build.add_argument("--max-examples", type=int, default=CorpusConfig.max_examples, help=HELP["max_examples"])
    build.add_argument("--weights", help=HELP["weights"] + ", written TASK=SHARE,... e.g. 1=0.5,7=0")
    build.add_argument("--seed", type=int, default=CorpusConfig.seed, help=HELP["seed"])
    build.add_argument("--window", type=int, default=CorpusConfig.window, help=HELP["window"])
    build.add_argument("--json", action="store_true", help="print the report as JSON")
    build.set_defaults(func=cmd_build)

    show = commands.add_parser("show", help="print examples of the built corpus, one task or all")
    show.add_argument("--dataset", default=CorpusConfig.dataset, help=HELP["dataset"])
    show.add_argument("--task", type=int, help="task number 1-8 (default: any)")
    show.add_argument("--n", type=int, default=3, help="how many examples")
    show.set_defaults(func=cmd_show)
