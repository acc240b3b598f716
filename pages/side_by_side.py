"""Side by side: 2-5 variants on the current history, live. Each column streams its variant's
reasoning (reasoning variants) and shows its top-10; below, how far the top-10s overlap and whether
the top-1 items agree on the level-1 code. Models load once each (cached) and run one at a time."""
from __future__ import annotations

import streamlit as st

from app import resources, state, traces, ui
from core import explain, recommend

st.title("Side by side")
name = state.dataset_name()
RESULT = f"side_by_side:{name}"
dataset, sidmap = ui.page_data(name)
rows = []
with ui.guarded("Listing variants"):
    rows = resources.variants(name)
history = state.history()
if len(rows) < 2:
    st.info("Side by side needs at least two trained variants of this dataset.")
    st.stop()
if not history:
    st.info("The history is empty: add items on the History builder page.")
    st.stop()
names = [r["name"] for r in rows]
chosen = st.multiselect("Variants (2 to 5)", names, default=names[:2], max_selections=5, key="side_variants")
max_new = st.slider("Max new tokens of reasoning", 8, 512, recommend.MAX_REASONING_TOKENS, key="side_max_tokens")
reason = "" if len(chosen) >= 2 else "choose at least two variants"
if st.button("Run side by side", type="primary", key="side_run", disabled=bool(reason)):
    st.session_state.pop(RESULT, None)
    results = {}
    columns = st.columns(len(chosen))
    for column, variant in zip(columns, [r for r in rows if r["name"] in chosen]):
        with column:
            st.markdown(f"**{ui.md(variant['name'])}**")
            with ui.guarded(f"Running {variant['name']}"):
                with st.spinner("Loading the model (once per checkpoint)..."):
                    model, tokenizer, meta, trie = resources.model(variant, name)
                prompt, _ = recommend.prompt_for(tokenizer, meta, sidmap, dataset, history)
                text = ""
                if meta.get("think"):
                    box = st.empty()
                    for chunk in recommend.stream(model, tokenizer, prompt, max_new, 0.0):
                        text += chunk
                        box.markdown(traces.reasoning_markdown(text, dataset, sidmap) + " ▌")
                    box.empty()
                topk, _ = recommend.rank(model, tokenizer, trie, prompt, text, history)
                results[variant["name"]] = {"reasoning": text, "topk": topk}
    st.session_state[RESULT] = {"history": history, "results": results}
elif reason:
    st.caption(f"Run is disabled: {reason}.")

result = st.session_state.get(RESULT)
if result and result["results"]:
    columns = st.columns(len(result["results"]))
    for column, (variant, out) in zip(columns, result["results"].items()):
        with column:
            st.markdown(f"**{ui.md(variant)}**")
            if out["reasoning"].strip():
                st.markdown(traces.reasoning_markdown(out["reasoning"], dataset, sidmap))
            else:
                st.caption("answers without reasoning")
            st.dataframe([{k: v for k, v in row.items() if k in ("rank", "item")}
                          for row in traces.topk_rows(out["topk"], dataset)], hide_index=True,
                         key=f"side_top:{variant}")
    if len(result["results"]) >= 2:
        agree = explain.agreement({v: [r["item_id"] for r in out["topk"]] for v, out in result["results"].items()},
                                  sidmap)
        st.subheader("Agreement")
        st.dataframe([{"variant A": o["a"], "variant B": o["b"], "top-10 items in both": o["shared"]}
                      for o in agree["overlap"]], hide_index=True, key="side_overlap")
        st.markdown(f"In every top-10: {len(agree['common'])} item(s)"
                    + (f" ({', '.join(ui.md(ui.item_label(dataset.items.get(i))) for i in agree['common'])})"
                       if agree["common"] else "") + ". Top-1 level-1 codes: "
                    + ", ".join(f"{ui.md(v)} {c}" for v, c in agree["level1"].items())
                    + (" (all agree)." if agree["same_level1"] else " (they differ)."))
