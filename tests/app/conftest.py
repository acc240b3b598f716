"""Page tests (the `app` fixture) run the real app (AppTest, in process) on the real ml-100k and its
SIDs, with a fresh SQLite file per test and, where a model is needed, the tiny random model."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.paths import REPO_ROOT

MAIN = str(REPO_ROOT / "app" / "main.py")


@pytest.fixture
def app_env(ml100k_sids_dir, tmp_path, monkeypatch):
    """The shared real data, a fresh SQLite file (returned), no shipped checkpoints, the "tiny" variant."""
    monkeypatch.setenv("SIDLENS_DATA_DIR", str(ml100k_sids_dir))
    monkeypatch.setenv("SIDLENS_DB", str(tmp_path / "sidlens.db"))
    monkeypatch.setenv("SIDLENS_CHECKPOINTS", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("SIDLENS_TINY_MODEL", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "sidlens.db"


@pytest.fixture
def app(app_env):
    """A started app on `page` (file name without .py); fails on any exception the page raised."""
    def open_page(page: str = "overview", timeout: float = 120) -> AppTest:
        at = AppTest.from_file(MAIN, default_timeout=timeout).run()
        if page != "overview":
            at.switch_page(f"../pages/{page}.py").run()
        assert not at.exception, [e.value for e in at.exception]
        return at
    return open_page
