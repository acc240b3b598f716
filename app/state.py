"""What a browser session remembers across pages: dataset, active variant, the history being built,
the latest recommendations (overlaid on the Codebook page) and the annotator's name.

Everything lives in `st.session_state`, one session per browser tab; nothing here is shared between
users (shared things, like saved histories and labels, live in the store).
"""
from __future__ import annotations

import streamlit as st

DATASET = "dataset"
VARIANT = "variant"
ANNOTATOR = "annotator"
DEFAULT_DATASET = "ml-100k"


def dataset_name() -> str:
    return st.session_state.get(DATASET) or DEFAULT_DATASET


def history() -> list[str]:
    """The history being built for the current dataset (item ids, oldest first)."""
    return list(st.session_state.get(f"history:{dataset_name()}", []))


def set_history(items: list[str]) -> None:
    st.session_state[f"history:{dataset_name()}"] = list(dict.fromkeys(items))


def active_variant(rows: list[dict]) -> dict | None:
    """The variant row chosen in the sidebar (None when there is none to choose)."""
    chosen = st.session_state.get(VARIANT)
    return next((r for r in rows if r["name"] == chosen), rows[0] if rows else None)


def remember_recommendations(variant: str, item_ids: list[str]) -> None:
    st.session_state[f"recs:{dataset_name()}"] = {"variant": variant, "items": list(item_ids)}


def recommendations() -> dict | None:
    """{"variant", "items"} of the latest recommendations made on the Reasoning page, if any."""
    return st.session_state.get(f"recs:{dataset_name()}")
