"""Codebook space: the items in UMAP space, coloured by code or genre; codes, utilisation, collisions."""
from __future__ import annotations

import streamlit as st

from app import charts, resources, state, ui
from core.sid import explore

st.title("Codebook space")
name = state.dataset_name()
dataset, sidmap = ui.page_data(name)

controls = st.columns([1, 2, 2, 2])
dims = 3 if controls[0].toggle("3D", key="codebook_3d") else 2
color_by = controls[1].selectbox("Colour by", explore.COLOR_BY, key="codebook_color")
show_history = controls[2].toggle("Overlay the current history", value=True, key="codebook_history")
recs = state.recommendations()
show_recs = controls[3].toggle("Overlay the latest recommendations", value=True, key="codebook_recs",
                               disabled=recs is None, help=None if recs else "make one on the Reasoning page")

with ui.guarded("Projecting the items"):
    coords = resources.projection(name, dims)
    item_ids = list(dataset.items)
    hover = [ui.hover(f"{ui.item_label(dataset.items[i])} {sidmap.sid_text(i) if i in sidmap.codes else ''}")
             for i in item_ids]
    fig = charts.codebook_scatter(coords, item_ids, explore.color_labels(dataset, sidmap, color_by), hover,
                                  state.history() if show_history else [],
                                  recs["items"] if recs and show_recs else [])
    st.plotly_chart(fig, key="codebook_scatter")
    st.caption("UMAP of the item text embeddings the SIDs were built from (cosine, seeded), computed once per "
               "SID map and cached on disk. Diamonds: the current history; stars: the latest recommendations.")

st.subheader("Explore a code")
left, right = st.columns(2)
first = left.selectbox("Level 1 code", range(sidmap.codebook_sizes[0]), key="code_l1",
                       format_func=lambda c: f"<a_{c}> ({len(explore.items_under(sidmap, (c,)))} items)")
subs = explore.sub_codes(sidmap, (first,))
second = right.selectbox("Level 2 code", [None, *subs], key="code_l2",
                         format_func=lambda c: "all" if c is None else f"<b_{c}> ({subs[c]} items)")
prefix = (first,) if second is None else (first, second)
members = explore.items_under(sidmap, prefix)
st.markdown(f"{ui.sid_chips(prefix)}: {len(members)} item(s), {len(explore.sub_codes(sidmap, prefix))} sub-code(s)")
st.dataframe([{"item": ui.item_label(dataset.items.get(i)), "sid": sidmap.sid_text(i),
               "genres": ", ".join(dataset.items[i].genres) if i in dataset.items else ""} for i in members],
             hide_index=True, height=300)

st.subheader("Utilisation and collisions")
left, right = st.columns(2)
level = left.selectbox("Level", range(sidmap.levels), key="util_level", format_func=lambda lv: f"level {lv + 1}")
left.bar_chart({"items": {f"{c:03d}": n for c, n in enumerate(explore.items_per_code(sidmap, level))}},
               x_label="code", y_label="items")
sharing = explore.prefix_sharing(sidmap)
right.bar_chart({"items sharing a prefix": {f"level {r['level']}": r["items sharing a prefix"] for r in sharing}},
                x_label="down to level", y_label="items")
stats = sidmap.stats
right.caption(f"Collision rate of the full SID before resolution {stats.get('collision_rate_before', 0):.1%}, "
              f"after {stats.get('collision_rate_after', 0):.1%}.")
with ui.guarded("Codebook statistics"):
    levels = resources.codebook_stats(name)["levels"]
    st.dataframe([{k: v for k, v in lv.items() if k not in ("level", "items_per_code")} for lv in levels],
                 hide_index=True)
