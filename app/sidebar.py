"""The sidebar every page shares: dataset, active variant, and what is missing.

The active variant is chosen here once; pages read it through `app.state.active_variant`. Problems
(no SIDs yet, no trained model, an unreadable store) are said in the sidebar with a way out, and
never stop the page from rendering what it can.
"""
from __future__ import annotations

import streamlit as st

from app import pipeline, resources, state, ui


def render() -> None:
    bar = st.sidebar
    bar.title("SID Lens")
    with ui.guarded("Listing datasets"):
        from core.data.registry import prepared_names

        names = list(dict.fromkeys([state.DEFAULT_DATASET, *prepared_names()]))
        bar.selectbox("Dataset", names, key=state.DATASET, help="ml-100k is built in; Amazon datasets appear "
                      "here once prepared with `python -m core data prepare`")
    name = state.dataset_name()
    with ui.guarded("Reading the SID map"):
        if resources.sidmap(name) is None:
            bar.warning(f"{ui.md(name)} has no Semantic IDs yet: the pages need them.")
            pipeline.offer(name, train=False, label="Prepare data and build SIDs (a few minutes)",
                           key="pipeline_sids", where=bar)
            return
    with ui.guarded("Listing variants"):
        rows = resources.variants(name)
        unfinished = [r["name"] for r in resources.store().rows("runs", "dataset = ? and status = 'running'", [name])]
        if unfinished:
            bar.info(f"Unfinished: {ui.md(', '.join(unfinished))} (training now, or stopped: the same command "
                     "resumes it). A run appears as a variant when it is done.")
        if not rows:
            bar.warning("No trained model found for this dataset: Reasoning and Compare need one. "
                        "Train it here, or run `python -m core train sft --preset quick`.")
            if not unfinished:
                pipeline.offer(name, train=True, label="Train the quick SFT model (about 50 min on 2 CPU cores)",
                               key="pipeline_sft", where=bar)
            return
        stages = {r["name"]: r.get("stage") or "" for r in rows}
        bar.selectbox("Active variant", list(stages), key=state.VARIANT,
                      format_func=lambda n: f"{n} ({stages[n]})" if stages[n] and stages[n] != n else n,
                      help="the model every page uses; chosen once, shared by all pages")
