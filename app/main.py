"""SID Lens workbench: `streamlit run app/main.py` (or `make app`).

The shared sidebar picks the dataset and the active variant once for every page (kept in
st.session_state); st.navigation routes to the pages in `pages/`. When SIDs or a trained model
are missing the sidebar says so and offers the quick pipeline instead of failing.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run app/main.py` puts app/ on the path, not the repository
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app import pipeline, sidebar  # noqa: E402

PAGES = [("overview", "Overview", ":material/dashboard:"),
         ("history", "History builder", ":material/playlist_add:"),
         ("reasoning", "Reasoning", ":material/psychology:"),
         ("codebook", "Codebook space", ":material/scatter_plot:"),
         ("side_by_side", "Side by side", ":material/view_column:"),
         ("groups", "RL groups", ":material/groups:"),
         ("compare", "Compare variants", ":material/compare:"),
         ("label", "Label", ":material/rate_review:")]

st.set_page_config(page_title="SID Lens", page_icon=":material/token:", layout="wide")
navigation = st.navigation([st.Page(ROOT / "pages" / f"{name}.py", title=title, icon=icon, url_path=name,
                                    default=name == "overview") for name, title, icon in PAGES])
sidebar.render()
pipeline.run_requested()
navigation.run()
