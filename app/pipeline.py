"""The quick-pipeline button: offered wherever something is missing, run with visible progress.

A click only records the request; `main.py` runs it at the top of the main area on the next run
(with st.status, one line per step and its time), so a button in the sidebar still gets a full-width
progress box. Steps come from `core.pipeline.quick_steps`, which leaves out what is already built.
"""
from __future__ import annotations

import time

import streamlit as st

from core.errors import SidLensError

REQUEST = "pipeline_request"


def offer(dataset: str, train: bool, label: str, key: str, where=st) -> None:
    """A button that asks for the quick pipeline (with SFT training when `train`)."""
    if where.button(label, key=key, type="primary"):
        st.session_state[REQUEST] = {"dataset": dataset, "train": train}


def run_requested() -> None:
    """Run a pending request with progress, then rerun so every page sees the new artefacts."""
    request = st.session_state.pop(REQUEST, None)
    if not request:
        return
    from core.pipeline import quick_steps

    with st.status("Running the quick pipeline...", expanded=True) as status:
        try:
            steps = quick_steps(request["dataset"], train=request["train"])
            for number, (label, step) in enumerate(steps, start=1):
                status.update(label=f"Step {number} of {len(steps)}: {label}")
                started = time.perf_counter()
                step()
                st.write(f"{number}. {label}: done in {time.perf_counter() - started:.0f} s")
        except SidLensError as exc:
            status.update(label=f"Quick pipeline stopped: {exc}", state="error")
            return
        status.update(label="Quick pipeline finished", state="complete", expanded=False)
    st.rerun()
