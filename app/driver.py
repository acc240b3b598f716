"""Drive the workbench from outside, as a user's browser does: used by the browser test and by
bench/bench_app.py, so both measure and check exactly the same thing.

`serve` starts `streamlit run app/main.py` on a free 127.0.0.1 port and polls /_stcore/health;
`chromium` launches Debian's Chromium through Playwright (never a downloaded browser); `idle`,
`open_page` and `screenshot` wait for Streamlit to finish a run, navigate through the sidebar (so
the session, and its history, survives) and capture the page; `tour` does what a user does on
every page. Run as a script it takes the README's screenshots with the app's default data and the
default variant, or `--variant NAME`:

    .venv/bin/python -m app.driver --out docs/screenshots --variant grpo
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

from core.errors import SidLensError
from core.paths import REPO_ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
BUSY = "[data-testid='stStatusWidget']"
ERRORS = "[data-testid='stException']"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(env: dict[str, str], timeout: float = 120) -> Iterator[tuple[str, subprocess.Popen, float]]:
    """(url, process, seconds until healthy) of a running app with `env` added to this environment."""
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.address", "127.0.0.1",
                             "--server.port", str(port), "--server.headless", "true"],
                            cwd=REPO_ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            if proc.poll() is not None:
                raise SidLensError(f"the app exited with status {proc.returncode}: {proc.stdout.read()[-2000:]}")
            if time.perf_counter() - started > timeout:
                raise SidLensError(f"the app did not answer /_stcore/health within {timeout:.0f} s")
            time.sleep(0.25)
        yield url, proc, time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextlib.contextmanager
def chromium():
    """A headless Chromium browser (Playwright driving the system's Chromium)."""
    if not os.path.exists(CHROMIUM):
        raise SidLensError(f"no chromium at {CHROMIUM}: run `make browser` (Debian's chromium package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def idle(page, timeout: float = 240) -> None:
    """Wait until the app has finished its run; fail if it shows an exception."""
    page.wait_for_timeout(300)
    page.wait_for_function(f"!document.querySelector(\"{BUSY}\")", timeout=timeout * 1000)
    errors = page.locator(ERRORS)
    if errors.count():
        raise AssertionError(f"the page shows an exception: {errors.all_inner_texts()}")


def open_page(page, title: str, timeout: float = 240) -> None:
    """Click `title` in the sidebar navigation and wait for its heading and for the run to end."""
    page.get_by_role("link", name=title).click()
    page.get_by_role("heading", name=title, exact=True).wait_for(timeout=timeout * 1000)
    idle(page, timeout)


def screenshot(page, path: Path) -> None:
    """The page scrolled to its top (Streamlit scrolls inside its main container)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page.evaluate("document.querySelector(\"[data-testid='stMain']\")?.scrollTo(0, 0)")
    page.wait_for_timeout(500)
    page.screenshot(path=str(path))


def label(page, annotator: str, quality: int, fresh: bool = True) -> None:
    """Give the current trace `quality` as `annotator` and wait until the page says it is saved."""
    if fresh:
        box = page.get_by_role("textbox", name="Annotator")
        box.fill(annotator)
        box.press("Enter")
        page.get_by_text(re.compile(rf"labeled by {re.escape(annotator)}$")).wait_for(timeout=60_000)
        idle(page)
        radio = page.get_by_role("radio", name=str(quality), exact=True)
        if radio.is_checked():  # this trace was labeled on an earlier tour of the same store
            from playwright.sync_api import expect

            page.get_by_role("button", name="Skip").click()
            expect(radio).not_to_be_checked(timeout=60_000)
            idle(page, 60)
    enabled = page.locator("[data-testid='stRadioOption']:not([data-disabled='true'])")  # not a stale element
    enabled.filter(has_text=str(quality)).click()
    page.get_by_text(f"Saved: quality {quality}").wait_for(timeout=60_000)


def choose_variant(page, name: str) -> None:
    """Make `name` the active variant with the sidebar's selectbox, as a user does."""
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").filter(has_text="Active variant").click()
    page.get_by_role("option").filter(has_text=re.compile(rf"^{re.escape(name)}( \(|$)")).first.click()
    idle(page)


def tour(page, url: str, shots: Path, annotator: str = "tour", quality: int = 4, variant: str | None = None) -> None:
    """Every page in order, doing its main action, with a screenshot of each in `shots`: build a
    history from a real user, recommend for it (with `variant` active, else the default), send the
    trace to the queue, explain the top-1 (attribution), re-rank a what-if history without its
    first item, run the variants side by side (when there are two), sample a GRPO group, label the trace."""
    page.goto(url)
    page.get_by_role("heading", name="Overview", exact=True).wait_for(timeout=300_000)
    idle(page, 300)
    if variant:
        choose_variant(page, variant)
    screenshot(page, shots / "overview.png")

    open_page(page, "History builder")
    page.get_by_role("tab", name="Real user").click()
    page.get_by_role("button", name="Use this user's history").click()
    page.get_by_role("heading", name="Current history (20 items)").wait_for(timeout=60_000)
    idle(page)
    screenshot(page, shots / "history.png")

    open_page(page, "Reasoning")
    page.get_by_role("button", name="Recommend").click()
    page.get_by_text("▌").first.wait_for(timeout=600_000)  # the stream has started
    page.get_by_role("heading", name="Top-10 (constrained beam search, history excluded)").wait_for(timeout=900_000)
    idle(page, 600)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)  # the beam tree
    page.get_by_role("button", name="Send this trace to the labeling queue").click()
    page.get_by_text("Queued as trace").wait_for(timeout=60_000)
    screenshot(page, shots / "reasoning.png")
    page.get_by_role("button", name="Explain: leave each history item out").click()
    page.get_by_text("most influential first").wait_for(timeout=600_000)
    idle(page, 600)
    page.get_by_text("Why this item").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "explain.png"))
    # what-if: leave the first history item out, re-rank, and read the diff against the top-10 above
    box = page.get_by_role("combobox", name="Remove from the history")
    box.scroll_into_view_if_needed()
    box.click()
    options = page.get_by_role("listbox", name="Remove from the history").get_by_role("option")
    options.filter(has_not_text="Select all").first.click()  # Streamlit lists "Select all" first
    page.keyboard.press("Escape")
    idle(page)
    page.get_by_role("button", name="Re-rank the edited history").click()
    page.get_by_text("Pinned").wait_for(timeout=600_000)
    idle(page, 600)
    page.get_by_role("heading", name="What if").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "whatif.png"))

    open_page(page, "Side by side")
    run_both = page.get_by_role("button", name="Run side by side")
    # the button, or the note that fewer than two variants exist (the test's data dir); counting the button
    # at once raced the page's first run and skipped it
    run_both.or_(page.get_by_text("needs at least two trained variants")).first.wait_for(timeout=60_000)
    if run_both.count():
        run_both.click()
        page.get_by_role("heading", name="Agreement").wait_for(timeout=900_000)
        idle(page, 600)
    screenshot(page, shots / "side_by_side.png")

    open_page(page, "RL groups")
    page.get_by_role("button", name="Sample the group").click()
    page.get_by_text("Distinct rewards").wait_for(timeout=900_000)
    idle(page, 600)
    screenshot(page, shots / "groups.png")

    open_page(page, "Codebook space", timeout=600)
    page.locator(".js-plotly-plot").first.wait_for(timeout=600_000)
    screenshot(page, shots / "codebook.png")

    open_page(page, "Compare variants")
    screenshot(page, shots / "compare.png")

    open_page(page, "Label")
    label(page, annotator, quality)
    screenshot(page, shots / "label.png")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Screenshots of every page, taken in Chromium.")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "screenshots", help="folder for the PNGs")
    parser.add_argument("--variant", help="the active variant during the tour (default: the app's default, sft)")
    args = parser.parse_args()
    with serve({"HF_HUB_OFFLINE": "1"}) as (url, _, _), chromium() as browser:
        tour(browser.new_page(viewport={"width": 1400, "height": 1800}), url, args.out, variant=args.variant)
    print(f"screenshots in {args.out}")


if __name__ == "__main__":
    main()
