"""App benchmark: server start to first page interactive, click to first streamed token, tokens/s.

    .venv/bin/python bench/bench_app.py [--variant NAME] [--user 1]

Runs the app the way `make app` does (a real `streamlit run` on 127.0.0.1) and drives it with
Debian's Chromium (`app.driver`, shared with the browser test):
- server start -> /_stcore/health, and -> the Overview page interactive (heading shown, run done);
- on the Reasoning page, with a real user's history: click -> first streamed text, twice. The
  first click loads the model into the server (from the converted weights cached on disk); the
  second finds it in st.cache_resource, which is what every later click (and page switch) costs;
- the page's own figures of the second click: time to first token, tokens/s after it, beam search.
All of it twice, in two server starts: torch on half the cores (the app's default) and on all of
them, since the browser shares the CPU with the model.
The variant is `--variant`, else the first checkpoint the sidebar lists, else the tiny random
model (SIDLENS_TINY_MODEL=1, said in the output). Data and SIDs come from the default data
directory (the quick pipeline builds them first when missing). Figures go to this script's
section of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_decode  # noqa: E402  (its BENCHMARKS.md section writer)

from app import driver  # noqa: E402
from core.pipeline import quick_steps  # noqa: E402
from core.runs import register_shipped  # noqa: E402
from core.store import Store  # noqa: E402
from core.variants import variants  # noqa: E402

SECTION = "bench_app"


def click_to_first_token(page) -> tuple[float, float]:
    """(seconds from the Recommend click to the first streamed text, to the finished top-10)."""
    clicked = time.perf_counter()
    page.get_by_role("button", name="Recommend").click()
    page.get_by_text("▌").first.wait_for(timeout=600_000)
    first = time.perf_counter() - clicked
    page.get_by_role("heading", name="Top-10 (constrained beam search, history excluded)").wait_for(timeout=900_000)
    driver.idle(page, 600)
    return first, time.perf_counter() - clicked


def page_metrics(page) -> dict[str, str]:
    labels = page.locator("[data-testid='stMetricLabel']").all_inner_texts()
    values = page.locator("[data-testid='stMetricValue']").all_inner_texts()
    return dict(zip(labels, values))


def measure(env: dict[str, str], variant: str, default_variant: str) -> dict:
    """One server start and one browser session: the figures of the module docstring."""
    out = {}
    with driver.serve(env) as (url, _, healthy_s), driver.chromium() as browser:
        started = time.perf_counter()
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(url)
        page.get_by_role("heading", name="Overview", exact=True).wait_for(timeout=300_000)
        driver.idle(page, 300)
        out.update(healthy_s=healthy_s, overview_s=healthy_s + time.perf_counter() - started)
        if variant != default_variant:  # the sidebar starts on the first listed variant
            page.get_by_role("combobox", name="Active variant").click()
            page.get_by_role("option", name=re.compile(rf"^{re.escape(variant)}\b")).click()
            driver.idle(page)
        driver.open_page(page, "History builder")
        page.get_by_role("tab", name="Real user").click()
        page.get_by_role("button", name="Use this user's history").click()
        page.get_by_role("heading", name="Current history (20 items)").wait_for(timeout=60_000)
        driver.open_page(page, "Reasoning")
        out["cold_first_s"], out["cold_total_s"] = click_to_first_token(page)
        out["warm_first_s"], out["warm_total_s"] = click_to_first_token(page)
        out["page"] = page_metrics(page)
    return out


def run(args) -> dict:
    for label, step in quick_steps(args.dataset):
        print(f"building: {label}")
        step()
    store = Store()
    register_shipped(store)
    names = [v["name"] for v in variants(store, args.dataset)]
    env = {"HF_HUB_OFFLINE": "1"}
    variant = args.variant or (names[0] if names else "tiny")
    if variant == "tiny":
        env["SIDLENS_TINY_MODEL"] = "1"
    default_variant = names[0] if names else "tiny"
    cores = os.cpu_count() or 2
    out = {"variant": variant, "cores": cores, "load_start": os.getloadavg()[0]}
    out["half"] = measure(env, variant, default_variant)  # the app's default: half the cores for torch
    out["all"] = measure({**env, "OMP_NUM_THREADS": str(cores)}, variant, default_variant)
    out["load_end"] = os.getloadavg()[0]
    return out


def report(r: dict) -> str:
    model = "the tiny random model (no trained checkpoint was present)" if r["variant"] == "tiny" else \
        f"variant `{r['variant']}`"
    half, every = r["half"], r["all"]

    def row(label: str, key: str, fmt: str = "{:.1f} s") -> str:
        return f"| {label} | {fmt.format(half[key])} | {fmt.format(every[key])} |\n"

    def shown(label: str) -> str:
        return f"| the page's {label} (second click) | {half['page'].get(label)} | {every['page'].get(label)} |\n"

    return (f"## App (bench/bench_app.py)\n\n`.venv/bin/python bench/bench_app.py --variant {r['variant']}` on "
            f"{datetime.date.today().isoformat()}; {platform.machine()} CPU with {r['cores']} cores (shared), Debian "
            f"Chromium via Playwright on the same machine, {model}, user 1's last 20 items. Two server starts: "
            f"torch on half the cores (the app's default, `app.resources`) and on all {r['cores']} "
            f"(OMP_NUM_THREADS={r['cores']}). Load average {r['load_start']:.1f} at the start, {r['load_end']:.1f} at "
            "the end.\n\n"
            f"| measure | half the cores (default) | all cores |\n|---|---|---|\n"
            + row("server start -> /_stcore/health", "healthy_s")
            + row("server start -> Overview interactive", "overview_s")
            + row("Recommend click -> first streamed text, model not yet loaded", "cold_first_s")
            + row("Recommend click -> first streamed text, model cached (second click)", "warm_first_s", "{:.2f} s")
            + shown("First token") + shown("Tokens") + shown("Tokens/s") + shown("Beam search")
            + row("Recommend click -> top-10 shown, model cached", "warm_total_s"))


def arguments(parser: argparse.ArgumentParser) -> None:
    """This script's options (besides --no-write, which every bench script has)."""
    parser.add_argument("--dataset", default="ml-100k", help="dataset whose app is measured")
    parser.add_argument("--variant", help="variant to use (default: the first listed, else the tiny model)")


def main() -> None:
    bench_decode.bench_main(__doc__, SECTION, arguments, run, report)


if __name__ == "__main__":
    main()
