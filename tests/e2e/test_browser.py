"""The workbench in a real headless Chromium (Debian's, driven by Playwright; nothing downloaded).

Starts `streamlit run app/main.py` on a free 127.0.0.1 port against the real ml-100k with its SIDs,
a fresh SQLite file and the tiny model, then, in one browser session, opens every page through the
sidebar, builds a history from a real user, streams a recommendation, sends the trace to the label
queue and labels it; a second session labels the same trace while the first relabels, the server
is killed, and every label shown as saved must be in the database. A screenshot of each page goes
to tests/e2e/screenshots/ (git-ignored). `make browser` installs the browser.
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


def _label(page, annotator: str, quality: int, fresh: bool = True) -> None:
    """Give the current trace `quality` as `annotator` and wait until the page says it is saved."""
    if fresh:
        box = page.get_by_role("textbox", name="Annotator")
        box.fill(annotator)
        box.press("Enter")
        driver.idle(page)
    enabled = page.locator("[data-testid='stRadioOption']:not([data-disabled='true'])")  # not a stale element
    enabled.filter(has_text=str(quality)).click()
    page.get_by_text(f"Saved: quality {quality}").wait_for(timeout=60_000)


def test_every_page_in_chromium(server):
    url, db, healthy_s, proc = server
    with driver.chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        started = time.perf_counter()
        page.goto(url)
        page.get_by_role("heading", name="Overview", exact=True).wait_for(timeout=120_000)
        driver.idle(page)
        print(f"healthy after {healthy_s:.1f} s, Overview interactive {time.perf_counter() - started:.1f} s later")
        assert page.get_by_text("1,682").first.is_visible()
        driver.screenshot(page, SHOTS / "overview.png")

        driver.open_page(page, "History builder")
        page.get_by_role("tab", name="Real user").click()
        page.get_by_role("button", name="Use this user's history").click()
        page.get_by_role("heading", name="Current history (20 items)").wait_for(timeout=60_000)
        driver.idle(page)
        driver.screenshot(page, SHOTS / "history.png")

        driver.open_page(page, "Reasoning")
        page.get_by_role("button", name="Recommend").click()
        page.get_by_text("▌").first.wait_for(timeout=180_000)  # the stream has started
        page.get_by_role("heading", name="Top-10 (constrained beam search, history excluded)").wait_for(timeout=300_000)
        driver.idle(page)
        page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)  # the beam tree
        page.get_by_role("button", name="Send this trace to the labeling queue").click()
        page.get_by_text("Queued as trace").wait_for(timeout=60_000)
        driver.screenshot(page, SHOTS / "reasoning.png")

        driver.open_page(page, "Codebook space", timeout=300)
        page.locator(".js-plotly-plot").first.wait_for(timeout=300_000)
        driver.screenshot(page, SHOTS / "codebook.png")

        driver.open_page(page, "Compare variants")
        page.get_by_text("popularity").first.wait_for(timeout=60_000)
        driver.screenshot(page, SHOTS / "compare.png")

        driver.open_page(page, "Label")
        _label(page, "e2e", 4)
        driver.screenshot(page, SHOTS / "label.png")
        assert [(r["annotator"], r["quality"]) for r in Store(db).rows("labels")] == [("e2e", 4)]

        # a second session labels the same trace while the first relabels; then the server is killed
        other = browser.new_context().new_page()
        other.goto(url)
        other.get_by_role("heading", name="Overview", exact=True).wait_for(timeout=120_000)
        driver.open_page(other, "Label")
        _label(other, "bob", 2)
        _label(page, "e2e", 5, fresh=False)
        proc.kill()
        proc.wait(timeout=30)
    assert {(r["annotator"], r["quality"]) for r in Store(db).rows("labels")} == {("e2e", 5), ("bob", 2)}
