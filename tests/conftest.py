"""Shared fixtures: every test gets its own data directory and database; the download/model cache
(data/cache) is shared so the real MovieLens files and the converted LM are fetched once.

Tiers (`make test` runs all; `make test-fast` the edit-test loop, `-m "not slow and not browser"`):
a test is `browser` when it lives in tests/e2e, and `slow` when it drives Chromium, uses a fixture
that trains a model or builds the real SIDs (SLOW_FIXTURES), or is marked `@pytest.mark.slow` (the
real LM, long training loops).
"""
from __future__ import annotations

import pytest

from core.store import Store

SLOW_FIXTURES = {"toy_world", "ml100k_sids_dir"}


def pytest_sessionstart(session):
    """Under pytest-xdist (`make test-fast` runs `-n 2`), fill the shared cache once in the controller
    before the workers start: the raw ml-100k files and the converted LM, which workers would
    otherwise extract or convert at the same moment on a fresh clone."""
    if hasattr(session.config, "workerinput") or not session.config.getoption("numprocesses", None):
        return
    from core.data.movielens import raw_files
    from core.llm.backbone import convert_default

    raw_files()
    convert_default()


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "e2e" in item.path.parts:
            item.add_marker(pytest.mark.browser)
        if item.get_closest_marker("browser") or SLOW_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path, monkeypatch):
    """Per-test data dir; the committed SID maps and checkpoints are hidden too (tests that need
    them point SIDLENS_CHECKPOINTS / core.sid.build.SHIPPED_DIR back at the repository's)."""
    import core.sid.build

    monkeypatch.setenv("SIDLENS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SIDLENS_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.setattr(core.sid.build, "SHIPPED_DIR", tmp_path / "sidmaps")
    monkeypatch.delenv("SIDLENS_DB", raising=False)
    yield tmp_path / "data"


@pytest.fixture
def store():
    return Store(":memory:")


@pytest.fixture(scope="session")
def ml100k_sids_dir(tmp_path_factory):
    """A data directory with the real ml-100k prepared and its SIDs built, once per test session.

    For tests that need the real data and SIDs (the app pages, the browser test): point
    SIDLENS_DATA_DIR at it and treat it as read-only. RQ-KMeans keeps the build to seconds after
    the item embeddings (the slow part, also done once here)."""
    from core.data.registry import prepare_dataset
    from core.sid.build import build_sids

    root = tmp_path_factory.mktemp("ml100k-sids")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIDLENS_DATA_DIR", str(root))
        mp.setenv("SIDLENS_DB", str(root / "build.db"))
        prepare_dataset("ml-100k")
        build_sids("ml-100k", method="rqkmeans")
    return root
