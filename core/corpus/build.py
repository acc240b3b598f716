"""Build the stage-1 alignment corpus: `python -m core corpus build --dataset ml-100k`.

Each task (see `sid_tasks`, `narrative_tasks`) has a pool of units; the corpus holds
`max_examples` records split between tasks by `weights` (largest-remainder rounding). A task whose
share is larger than its pool reuses units in a new seeded order, usually with another phrasing
(e.g. each item's title<->SID pair appears a few times, as an extra epoch on the SID vocabulary).
Default shares, task 1 being the recommendation task itself:
  1 SID history -> next SID 0.40 | 2 title <-> SID 0.15 | 3 SID history -> title 0.10
  4 title history -> SID 0.10    | 5 item narrative 0.10 | 6 user narrative 0.10
  7 preference summary 0.05
The paper mixes its tasks by dataset size; fixed shares keep the mix the same on every dataset.

Output: `<data dir>/datasets/<name>/corpus/stage1.jsonl` (records shuffled with the seed, so the
first N lines are themselves a sample following the weights) and `stage1.counts.json` next to it
(counts per task, the configuration, and the SID-map hash the corpus was written with). Same seed
and inputs give a byte-identical corpus.
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

from tqdm.auto import tqdm

from core.atomic import write_json, write_jsonl
from core.corpus.context import CorpusContext
from core.corpus.narrative_tasks import NARRATIVE_TASKS
from core.corpus.sid_tasks import SID_TASKS
from core.corpus.teacher import Teacher, make_teacher
from core.data.schema import Dataset
from core.errors import SidLensError
from core.llm.prompts import DEFAULT_WINDOW
from core.paths import dataset_dir
from core.sid.sidmap import SidMap

TASKS = {t.number: t for t in SID_TASKS + NARRATIVE_TASKS}
DEFAULT_WEIGHTS = {1: 0.40, 2: 0.15, 3: 0.10, 4: 0.05, 5: 0.10, 6: 0.10, 7: 0.05, 8: 0.05}


@dataclass
class CorpusConfig:
    dataset: str = field(default="ml-100k", metadata={"help": "prepared dataset name"})
    teacher: str = field(default="metadata", metadata={"help": "who writes narratives: metadata (offline) or openai"})
    base_url: str | None = field(default=None, metadata={
        "help": "openai teacher: server URL; POSTs to <url>/v1/chat/completions"})
    model: str | None = field(default=None, metadata={"help": "openai teacher: model name"})
    api_key_env: str = field(default="SIDLENS_TEACHER_API_KEY", metadata={"help": "openai teacher: variable holding the API key"})
    weights: dict[int, float] = field(default_factory=dict, metadata={
        "help": "task number -> share, merged over the defaults (0 turns a task off); normalised to sum 1"})
    max_examples: int = field(default=50_000, metadata={"help": "total records in the corpus"})
    seed: int = field(default=0, metadata={"help": "seed of sampling, phrasing choice and order"})
    window: int = field(default=DEFAULT_WINDOW, metadata={"help": "history length of prompts (the split's window)"})
    cowatch_window: int = field(default=3, metadata={"help": "items this close in a training sequence count as watched together"})


@dataclass
class CorpusReport:
    dataset: str
    path: str
    counts: dict[int, int]
    total: int
    teacher: str
    seed: int
    sid_map_hash: str
    seconds: float

    def to_json(self) -> dict:
        return {**asdict(self), "counts": {str(k): v for k, v in sorted(self.counts.items())}}


def corpus_path(dataset_name: str) -> Path:
    return dataset_dir(dataset_name) / "corpus" / "stage1.jsonl"


def info_path(dataset_name: str) -> Path:
    return corpus_path(dataset_name).with_suffix(".counts.json")


def shares(weights: dict[int, float] | None) -> dict[int, float]:
    """Default weights with `weights` merged over them, normalised; unknown tasks or bad values raise."""
    merged = dict(DEFAULT_WEIGHTS)
    for task, weight in (weights or {}).items():
        if int(task) not in TASKS:
            raise SidLensError(f"unknown corpus task {task} (tasks are {', '.join(map(str, TASKS))})")
        if not weight >= 0:
            raise SidLensError(f"weight of task {task} must be >= 0, not {weight}")
        merged[int(task)] = float(weight)
    total = sum(merged.values())
    if total <= 0:
        raise SidLensError("every corpus task has weight 0: nothing to build")
    return {t: w / total for t, w in sorted(merged.items()) if w > 0}


def allocate(total: int, task_shares: dict[int, float]) -> dict[int, int]:
    """Split `total` records between tasks in proportion to their shares (largest remainder, ties
    to the lower task number)."""
    norm = sum(task_shares.values())
    exact = {t: total * s / norm for t, s in task_shares.items()}
    counts = {t: int(x) for t, x in exact.items()}
    for t in sorted(exact, key=lambda t: (-(exact[t] - counts[t]), t))[:total - sum(counts.values())]:
        counts[t] += 1
    return counts


def _task_records(number: int, units: list, count: int, context: CorpusContext, teacher: Teacher,
                  seed: int) -> Iterator[dict]:
    rng = random.Random(f"{seed}:task{number}")  # per task: changing one weight leaves the others' samples alone
    order: list = []
    for _ in range(count):
        if not order:
            order = units[:]
            rng.shuffle(order)
        yield TASKS[number].render(context, teacher, order.pop(), rng)


def build_corpus(dataset_name: str, teacher: str | Teacher = "metadata", weights: dict[int, float] | None = None,
                 max_examples: int | None = None, seed: int = 0, *, base_url: str | None = None,
                 model: str | None = None, api_key_env: str = "SIDLENS_TEACHER_API_KEY", window: int = DEFAULT_WINDOW,
                 cowatch_window: int = 3, dataset: Dataset | None = None, sidmap: SidMap | None = None,
                 progress: bool = True) -> CorpusReport:
    """Write the corpus of `dataset_name` and its counts; `dataset`/`sidmap` skip loading them."""
    started = time.perf_counter()
    total = CorpusConfig.max_examples if max_examples is None else int(max_examples)
    if total < 1:
        raise SidLensError(f"--max-examples must be >= 1, not {total}")
    task_shares = shares(weights)
    if isinstance(teacher, str):  # first: a misconfigured teacher fails before anything is loaded
        teacher = make_teacher(teacher, **({"base_url": base_url, "model": model, "api_key_env": api_key_env}
                                           if teacher == "openai" else {}))
    if dataset is None:
        from core.data.registry import load_dataset
        dataset = load_dataset(dataset_name)
    if sidmap is None:
        from core.sid.build import load_sidmap
        sidmap = load_sidmap(dataset_name)
    context = CorpusContext(dataset, sidmap, window=window, cowatch_window=cowatch_window)
    pools = {t: list(TASKS[t].units(context)) for t in task_shares}
    if not any(pools.values()):
        raise SidLensError(f"dataset {dataset_name} has no training examples or items with SIDs to build a corpus from")
    counts = allocate(total, {t: s for t, s in task_shares.items() if pools[t]})  # a task with no units drops out
    records = []
    with tqdm(total=total, desc=f"corpus {dataset_name}", unit="rec", disable=not progress) as bar:
        for number, count in counts.items():
            bar.set_postfix(task=number)
            for rec in _task_records(number, pools[number], count, context, teacher, seed):
                records.append(rec)
                bar.update()
    random.Random(f"{seed}:order").shuffle(records)
    path = write_jsonl(corpus_path(dataset_name), records)
    report = CorpusReport(dataset_name, str(path), counts, len(records), teacher.name, seed, sidmap.hash,
                          round(time.perf_counter() - started, 2))
    write_json(info_path(dataset_name), {**report.to_json(), "shares": {str(t): s for t, s in task_shares.items()},
                                         "window": window, "cowatch_window": cowatch_window})
    return report


def corpus_info(dataset_name: str) -> dict:
    """The counts file of the built corpus; SidLensError when there is none."""
    path = info_path(dataset_name)
    if not path.exists() or not corpus_path(dataset_name).exists():
        raise SidLensError(f"no corpus for {dataset_name}: run python -m core corpus build --dataset {dataset_name}")
    return json.loads(path.read_text(encoding="utf-8"))


def read_corpus(dataset_name: str, task: int | None = None, sid_map_hash: str | None = None) -> Iterator[dict]:
    """Records of the built corpus (of one task when given). With `sid_map_hash`, a corpus written
    for another SID map is refused: its SIDs would name the wrong items."""
    info = corpus_info(dataset_name)
    if sid_map_hash and info["sid_map_hash"] != sid_map_hash:
        raise SidLensError(f"the corpus of {dataset_name} was built for SID map {info['sid_map_hash']}, not "
                           f"{sid_map_hash}: rebuild it with python -m core corpus build --dataset {dataset_name}")
    with open(corpus_path(dataset_name), encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            if task is None or rec["task"] == task:
                yield rec
