"""A small hand-built dataset and SID map, so corpus tests do not depend on the data and SID layers."""
from __future__ import annotations

import random

import pytest

from core.corpus.context import CorpusContext
from core.data.schema import Dataset, Interaction, Item, User
from core.sid.sidmap import SidMap

GENRES = ["Drama", "Comedy", "Action", "Horror", "Romance", "Animation"]


def make_dataset(n_users: int = 8, n_items: int = 30, seed: int = 1) -> Dataset:
    rng = random.Random(seed)
    # one title per franchise ("Film7"; "Film 7" would make every item a sequel of every other), but item 2
    # continues item 1's series, so the teacher's series observation has a case
    items = {str(i): Item(str(i), "Film1 2" if i == 2 else f"Film{i}", 1960 + 3 * i,
                          tuple(rng.sample(GENRES, rng.randint(1, 2))))
             for i in range(1, n_items + 1)}
    users = {str(u): User(str(u), 20 + u, "MF"[u % 2], "student" if u % 3 else None) for u in range(1, n_users + 1)}
    sequences = {}
    for u in users:
        chosen = rng.sample(sorted(items), rng.randint(6, 26))
        sequences[u] = [Interaction(u, i, 1000 + t, float(rng.randint(1, 5))) for t, i in enumerate(chosen)]
    return Dataset("tiny", items, users, sequences, meta={"item_noun": "movie"})


def make_sidmap(dataset: Dataset) -> SidMap:
    codes = {i: (n % 4, n // 4 % 4, n) for n, i in enumerate(sorted(dataset.items, key=int))}
    return SidMap(dataset.name, "hand", [4, 4, len(codes)], codes)


@pytest.fixture
def sidmap_for():
    """The hand-made SID map of any dataset."""
    return make_sidmap


@pytest.fixture
def tiny_dataset() -> Dataset:
    return make_dataset()


@pytest.fixture
def tiny_sidmap(tiny_dataset) -> SidMap:
    return make_sidmap(tiny_dataset)


@pytest.fixture
def tiny_context(tiny_dataset, tiny_sidmap) -> CorpusContext:
    return CorpusContext(tiny_dataset, tiny_sidmap, window=5)
