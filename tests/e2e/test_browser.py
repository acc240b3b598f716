"""The workbench in a real headless Chromium (Debian's, driven by Playwright; nothing downloaded).

Starts `streamlit run app/main.py` on a free 127.0.0.1 port against the real ml-100k with its SIDs,
a fresh SQLite file and the tiny model, waits for /_stcore/health, then, in one browser session,
opens every page through the sidebar, builds a history from a real user, streams a recommendation,
sends the trace to the label queue and labels it; the label must be in the database. A screenshot
of each page goes to tests/e2e/screenshots/ (git-ignored). `make browser` installs the browser.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from core.data.registry import load_dataset
from core.data.split import Split
from core.eval.popularity import run_popularity
from core.paths import REPO_ROOT
from core.store import Store

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SHOTS = REPO_ROOT / "tests" / "e2e" / "screenshots"
BUSY = "[data-testid='stStatusWidget']"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(ml100k_sids_dir, tmp_path, monkeypatch):
    """(url, database path, seconds until healthy, process) of a running app; stopped afterwards."""
    db = tmp_path / "sidlens.db"
    env = {**os.environ, "SIDLENS_DATA_DIR": str(ml100k_sids_dir), "SIDLENS_DB": str(db), "SIDLENS_TINY_MODEL": "1",
           "SIDLENS_CHECKPOINTS": str(tmp_path / "checkpoints"), "HF_HUB_OFFLINE": "1"}
    for key in ("SIDLENS_DATA_DIR", "SIDLENS_DB"):  # this process reads and writes the same data and DB
        monkeypatch.setenv(key, env[key])
    run_popularity(Store(db), Split(load_dataset("ml-100k")))  # something to compare
    port = _free_port()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.address", "127.0.0.1",
                             "--server.port", str(port), "--server.headless", "true"],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            assert proc.poll() is None, proc.stdout.read()
            assert time.perf_counter() - started < 120, "server did not become healthy in 120 s"
            time.sleep(0.5)
        yield url, db, time.perf_counter() - started, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"no chromium at {CHROMIUM}: run `make browser` (Debian's chromium package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def _idle(page, timeout: float = 240) -> None:
    """Wait until the app has finished running the script (the status widget disappears)."""
    page.wait_for_timeout(300)
    page.wait_for_function(f"!document.querySelector(\"{BUSY}\")", timeout=timeout * 1000)
    errors = page.locator("[data-testid='stException']")
    assert errors.count() == 0, errors.all_inner_texts()


def _open(page, title: str, heading: str | None = None, timeout: float = 240) -> None:
    page.get_by_role("link", name=title).click()
    page.get_by_role("heading", name=heading or title, exact=True).wait_for(timeout=timeout * 1000)
    _idle(page, timeout)


def _shot(page, name: str) -> None:
    """Screenshot of the page scrolled to its top (Streamlit scrolls inside its main container)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("document.querySelector(\"[data-testid='stMain']\")?.scrollTo(0, 0)")
    page.wait_for_timeout(500)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_every_page_in_chromium(server, browser):
    url, db, healthy_s, proc = server
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    started = time.perf_counter()
    page.goto(url)
    page.get_by_role("heading", name="Overview", exact=True).wait_for(timeout=120_000)
    _idle(page)
    print(f"server healthy after {healthy_s:.1f} s, Overview interactive {time.perf_counter() - started:.1f} s later")
    assert page.get_by_text("1,682").first.is_visible()
    _shot(page, "overview")

    _open(page, "History builder")
    page.get_by_role("tab", name="Real user").click()
    page.get_by_role("button", name="Use this user's history").click()
    page.get_by_role("heading", name="Current history (20 items)").wait_for(timeout=60_000)
    _idle(page)
    _shot(page, "history")

    _open(page, "Reasoning")
    clicked = time.perf_counter()
    page.get_by_role("button", name="Recommend").click()
    page.get_by_text("▌").first.wait_for(timeout=180_000)  # the stream has started
    print(f"first streamed text {time.perf_counter() - clicked:.1f} s after the click")
    page.get_by_role("heading", name="Top-10 (constrained beam search, history excluded)").wait_for(timeout=300_000)
    _idle(page)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)  # the beam tree
    page.get_by_role("button", name="Send this trace to the labeling queue").click()
    page.get_by_text("Queued as trace").wait_for(timeout=60_000)
    _shot(page, "reasoning")

    _open(page, "Codebook space", timeout=300)
    page.locator(".js-plotly-plot").first.wait_for(timeout=300_000)
    _shot(page, "codebook")

    _open(page, "Compare variants")
    page.get_by_text("popularity").first.wait_for(timeout=60_000)
    _shot(page, "compare")

    _open(page, "Label")
    _label(page, "e2e", 4)
    _shot(page, "label")
    assert [(r["annotator"], r["quality"]) for r in Store(db).rows("labels")] == [("e2e", 4)]

    # a second browser session labels the same trace while the first changes its label; then the
    # server is killed: every label the pages showed as saved is in the database
    other = browser.new_context().new_page()
    other.goto(url)
    other.get_by_role("heading", name="Overview", exact=True).wait_for(timeout=120_000)
    _open(other, "Label")
    _label(other, "bob", 2)
    _label(page, "e2e", 5, fresh=False)
    proc.kill()
    proc.wait(timeout=30)
    saved = {(r["annotator"], r["quality"]) for r in Store(db).rows("labels")}
    assert saved == {("e2e", 5), ("bob", 2)}


def _label(page, annotator: str, quality: int, fresh: bool = True) -> None:
    """Give the current trace `quality` as `annotator` and wait until the page says it is saved."""
    if fresh:
        box = page.get_by_role("textbox", name="Annotator")
        box.fill(annotator)
        box.press("Enter")
        _idle(page)
    enabled = page.locator("[data-testid='stRadioOption']:not([data-disabled='true'])")  # not a stale element
    enabled.filter(has_text=str(quality)).click()
    page.get_by_text(f"Saved: quality {quality}").wait_for(timeout=60_000)
