"""Real MovieLens-100k for the evaluation tests, read once per session from the shared download cache
(load_ml100k writes nothing to the per-test data directory)."""
from __future__ import annotations

import pytest

from core.data.movielens import load_ml100k
from core.data.schema import Dataset
from core.data.split import Split
from tests.train.conftest import offline, toy_dataset, toy_sidmap, toy_world  # noqa: F401  (toy-world fixtures)


@pytest.fixture(scope="session")
def ml100k() -> Dataset:
    return load_ml100k()


@pytest.fixture(scope="session")
def ml100k_split(ml100k) -> Split:
    return Split(ml100k)


@pytest.fixture(scope="session")
def ml100k_slice(ml100k) -> Split:
    """The split of ml-100k's first 200 users (all items kept), for quick training tests."""
    keep = list(ml100k.sequences)[:200]
    return Split(Dataset(ml100k.name, ml100k.items, {u: ml100k.users[u] for u in keep},
                         {u: ml100k.sequences[u] for u in keep}, ml100k.meta))
