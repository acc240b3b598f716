"""Overview: the dataset, its SID map, the runs with their headline metrics, the active variant."""
from __future__ import annotations

import streamlit as st

from app import resources, state, ui

st.title("Overview")
name = state.dataset_name()

with ui.guarded("Loading the dataset"):
    from core.summary import dataset_summary

    summary = dataset_summary(resources.dataset(name))
    cols = st.columns(5)
    for col, (label, value) in zip(cols, [("Users", summary["users"]), ("Items", summary["items"]),
                                          ("Interactions", summary["interactions"]),
                                          ("Test users", summary["test_users"]),
                                          ("Density", f"{summary['density']:.2%}")]):
        col.metric(label, f"{value:,}" if isinstance(value, int) else value)
    lengths = summary["history_length"]
    st.caption(f"History length per user: min {lengths['min']}, median {lengths['median']:.0f}, "
               f"max {lengths['max']}. Leave-one-out split: last item test, second-to-last validation.")
    left, right = st.columns(2)
    left.bar_chart({"items": summary["genres"]}, x_label="genre", y_label="items", horizontal=True)
    right.bar_chart({"items": {str(y): n for y, n in summary["years"].items()}}, x_label="release year",
                    y_label="items")

st.subheader("Semantic IDs")
with ui.guarded("Reading the SID map"):
    sidmap = resources.sidmap(name)
    if sidmap is None:
        st.info("No SID map yet: use the button in the sidebar, or `python -m core sids build`.")
    else:
        stats = sidmap.stats
        cols = st.columns(4)
        cols[0].metric("Method", sidmap.method)
        cols[1].metric("Codebooks", " x ".join(str(s) for s in sidmap.codebook_sizes))
        cols[2].metric("Collisions before", f"{stats.get('collision_rate_before', 0):.1%}")
        cols[3].metric("Collisions after", f"{stats.get('collision_rate_after', 0):.1%}")
        st.caption(f"SID map hash {sidmap.hash}; every checkpoint records the hash it was trained with.")

st.subheader("Runs and variants")
with ui.guarded("Listing runs"):
    from core.variants import metrics_table, runs_of

    db = resources.store()
    runs = runs_of(db, name)
    if not runs:
        st.info("No runs yet for this dataset: train one (`python -m core train sft --preset quick`) or run the "
                "baselines (`python -m core baselines run`).")
    else:
        st.dataframe(metrics_table(db, runs, None), hide_index=True)
        st.caption("Each run's metrics on the whole test split, or on the first N test users (test@N) where "
                   "only those were evaluated (reasoning variants, slow on a CPU); the Compare page puts chosen "
                   "runs side by side on one split.")

st.subheader("Active variant")
with ui.guarded("Reading the active variant"):
    variant = state.active_variant(resources.variants(name)) if resources.sidmap(name) is not None else None
    if variant is None:
        st.info("No variant to activate: the sidebar offers to train one.")
    else:
        st.markdown(f"**{ui.md(variant['name'])}** (stage {ui.md(variant.get('stage') or '?')}"
                    f"{', from ' + ui.md(variant['parent']) if variant.get('parent') else ''}), "
                    f"checkpoint {ui.md(variant['checkpoint'])}")
        st.caption("Chosen in the sidebar; every page uses it.")
