"""Shared fixtures: every test gets its own data directory and database; the download/model cache
(data/cache) is shared so the real MovieLens files and the converted LM are fetched once."""
from __future__ import annotations

import pytest

from core.store import Store


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SIDLENS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SIDLENS_DB", raising=False)
    yield tmp_path / "data"


@pytest.fixture
def store():
    return Store(":memory:")
