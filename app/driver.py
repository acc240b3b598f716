"""Drive the workbench from outside, as a user's browser does: used by the browser test and by
bench/bench_app.py, so both measure and check exactly the same thing.

`serve` starts `streamlit run app/main.py` on a free 127.0.0.1 port and polls /_stcore/health;
`chromium` launches Debian's Chromium through Playwright (never a downloaded browser); `idle`,
`open_page` and `screenshot` wait for Streamlit to finish a run, navigate through the sidebar (so
the session, and its history, survives) and capture the page.
"""
from __future__ import annotations

import contextlib
import os
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
