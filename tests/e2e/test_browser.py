"""The workbench in a real headless Chromium (Debian's, driven by Playwright; nothing downloaded).

Starts `streamlit run app/main.py` on a free 127.0.0.1 port against the real ml-100k with its SIDs,
a fresh SQLite file and the tiny model, then, in one browser session, opens every page through the
sidebar, builds a history from a real user, streams a recommendation, sends the trace to the label
queue, explains it (attribution), re-ranks a what-if history with one item removed, opens Side by
side and samples a GRPO group on RL groups, and labels the trace; a second session labels the same
trace while the first relabels, the server is killed, and every label shown as saved must be in the
database. A screenshot of each page goes to tests/e2e/screenshots/ (git-ignored). `make browser` installs the browser.
"""
from __future__ import annotations

import time

import pytest

from app import driver
from core.data.registry import load_dataset
from core.data.split import Split
from core.eval.popularity import run_popularity
from core.paths import REPO_ROOT
from core.store import Store

SHOTS = REPO_ROOT / "tests" / "e2e" / "screenshots"


@pytest.fixture
def server(ml100k_sids_dir, tmp_path, monkeypatch):
    """(url, database path, seconds until healthy, process) of a running app."""
    db = tmp_path / "sidlens.db"
    env = {"SIDLENS_DATA_DIR": str(ml100k_sids_dir), "SIDLENS_DB": str(db), "SIDLENS_TINY_MODEL": "1",
           "SIDLENS_CHECKPOINTS": str(tmp_path / "checkpoints"), "HF_HUB_OFFLINE": "1"}
    for key in ("SIDLENS_DATA_DIR", "SIDLENS_DB"):  # this process reads and writes the same data and DB
        monkeypatch.setenv(key, env[key])
    run_popularity(Store(db), Split(load_dataset("ml-100k")))  # something to compare
    with driver.serve(env) as (url, proc, healthy_s):
        yield url, db, healthy_s, proc


def test_every_page_in_chromium(server):
    url, db, healthy_s, proc = server
    with driver.chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.set_default_timeout(180_000)  # a loaded 2-core machine can take long to navigate
        for old in SHOTS.glob("*.png"):
            old.unlink()
        started = time.perf_counter()
        driver.tour(page, url, SHOTS, annotator="e2e", quality=4)
        print(f"healthy after {healthy_s:.1f} s, tour of every page {time.perf_counter() - started:.1f} s")
        assert page.get_by_text("Saved: quality 4").is_visible()
        assert (SHOTS / "whatif.png").stat().st_size > 10_000  # the what-if diff was drawn
        assert [(r["annotator"], r["quality"]) for r in Store(db).rows("labels")] == [("e2e", 4)]
        assert len(Store(db).rows("traces")) == 1 and len(list(SHOTS.glob("*.png"))) == 10

        # a second session labels the same trace while the first relabels; then the server is killed
        other = browser.new_context().new_page()
        other.set_default_timeout(180_000)
        other.goto(url)
        other.get_by_role("heading", name="Overview", exact=True).wait_for(timeout=120_000)
        driver.open_page(other, "Compare variants")
        other.get_by_text("popularity").first.wait_for(timeout=60_000)
        driver.open_page(other, "Label")
        driver.label(other, "bob", 2)
        driver.label(page, "e2e", 5, fresh=False)
        proc.kill()
        proc.wait(timeout=30)
    assert {(r["annotator"], r["quality"]) for r in Store(db).rows("labels")} == {("e2e", 5), ("bob", 2)}
