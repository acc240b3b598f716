"""Named datasets: prepare once, load fast.

`prepare_dataset(name, **options)` builds a Dataset from its source (ml-100k: the recbole wheel;
`amazon-<category>`: the user's review files), writes it to `<data dir>/datasets/<name>/prepared/`
and records the dataset and its items in the store. `load_dataset(name)` reads those files back
(well under a second for ml-100k); ml-100k is prepared on first use, since it needs nothing from
the user.

The prepared folder holds `dataset.json` (name, counts, source details), `items.jsonl`,
`users.jsonl` and `sequences.jsonl` (one user a line, items/timestamps/ratings in order). The
whole folder is written to a temporary sibling and renamed into place, so an interrupted prepare
leaves the previous version intact; other artefacts in `<name>/` (embeddings, SID maps) are kept.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict

from core.atomic import atomic_path, write_json, write_jsonl
from core.data import amazon, movielens
from core.data.schema import Dataset, Interaction, Item, User
from core.errors import SidLensError
from core.paths import data_dir, dataset_dir
from core.store import Store, now

BUILTIN = movielens.NAME
AMAZON_NAME = re.compile(r"^amazon-[A-Za-z0-9][A-Za-z0-9_.-]*$")
PREPARED = "prepared"


def prepared_names() -> list[str]:
    """Datasets prepared in the current data directory."""
    root = data_dir() / "datasets"
    return sorted(p.parent.parent.name for p in root.glob(f"*/{PREPARED}/dataset.json")) if root.is_dir() else []


def _check_name(name: str) -> None:
    if name != BUILTIN and not AMAZON_NAME.match(name or ""):
        known = sorted({BUILTIN, *prepared_names()}) + ["amazon-<category> (from your review files)"]
        raise SidLensError(f"unknown dataset {name!r} (known: {', '.join(known)})")


def prepare_dataset(name: str, store: Store | None = None, **options) -> Dataset:
    """Build dataset `name` from its source, save it and record it in `store` (default: the data dir's).

    ml-100k takes no options; `amazon-<category>` takes the fields of `amazon.AmazonConfig`
    (reviews=PATH, meta=PATH, format="2018"|"2023", start_year, end_year, k_core, ...).
    """
    _check_name(name)
    if name == BUILTIN:
        if options:
            raise SidLensError(f"{BUILTIN} is built in and takes no options (got {', '.join(sorted(options))})")
        dataset = movielens.load_ml100k()
    else:
        unknown = sorted(set(options) - set(amazon.AmazonConfig.option_names()))
        if unknown:
            raise SidLensError(f"unknown option(s) for Amazon datasets: {', '.join(unknown)}")
        if not options.get("reviews") or not options.get("meta"):
            raise SidLensError(f"{name} needs the reviews and metadata files (--reviews FILE --meta FILE)")
        dataset = amazon.load_amazon(name, amazon.AmazonConfig(**options))
    save_dataset(dataset)
    record_in_store(dataset, store)
    return dataset


def load_dataset(name: str, store: Store | None = None) -> Dataset:
    """The prepared dataset `name` (ml-100k is prepared, and recorded in `store`, the first time)."""
    _check_name(name)
    folder = dataset_dir(name) / PREPARED
    if not (folder / "dataset.json").exists():
        if name == BUILTIN:
            return prepare_dataset(name, store)
        raise SidLensError(f"dataset {name!r} is not prepared yet: run python -m core data prepare "
                           f"--dataset {name} --reviews FILE --meta FILE")
    try:
        info = json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
        items = {row["item_id"]: Item(row["item_id"], row["title"], row["year"], tuple(row["genres"]))
                 for row in _jsonl(folder / "items.jsonl")}
        users = {row["user_id"]: User(**row) for row in _jsonl(folder / "users.jsonl")}
        sequences = {}
        for row in _jsonl(folder / "sequences.jsonl"):
            u = row["user_id"]
            sequences[u] = [Interaction(u, i, t, r) for i, t, r in zip(row["items"], row["timestamps"], row["ratings"])]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SidLensError(f"prepared files of dataset {name!r} in {folder} are unreadable ({exc}); "
                           "run python -m core data prepare again") from None
    return Dataset(info["name"], items, users, sequences, info["meta"])


def _jsonl(path):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def save_dataset(dataset: Dataset) -> None:
    """Write the prepared folder of `dataset` atomically (see the module docstring)."""
    with atomic_path(dataset_dir(dataset.name) / PREPARED) as folder:
        folder.mkdir()
        write_jsonl(folder / "items.jsonl", ({**asdict(x), "genres": list(x.genres)} for x in dataset.items.values()))
        write_jsonl(folder / "users.jsonl", (asdict(u) for u in dataset.users.values()))
        write_jsonl(folder / "sequences.jsonl", (
            {"user_id": u, "items": [x.item_id for x in seq], "timestamps": [x.timestamp for x in seq],
             "ratings": [x.rating for x in seq]} for u, seq in dataset.sequences.items()))
        info = {"name": dataset.name, "stats": dataset.stats(), "meta": dataset.meta}
        write_json(folder / "dataset.json", info)


def record_in_store(dataset: Dataset, store: Store | None = None) -> None:
    """Upsert the dataset row and replace its items rows (items dropped by a re-prepare go too)."""
    store = store or Store()
    stats = dataset.stats()
    store.upsert("datasets", {"name": dataset.name, "source": dataset.meta.get("source", ""), **stats,
                              "meta": dataset.meta, "updated": now()})
    store.delete_where("items", "dataset = ?", [dataset.name])
    store.upsert("items", [{"dataset": dataset.name, "item_id": x.item_id, "title": x.title, "year": x.year,
                            "genres": list(x.genres)} for x in dataset.items.values()])
