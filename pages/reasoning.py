"""Reasoning: stream the active variant's thinking token by token, then its constrained top-10."""
from __future__ import annotations

import time

import streamlit as st

from app import charts, resources, state, traces, ui
from core import labels, recommend
from core.sid.sidmap import token

st.title("Reasoning")
name = state.dataset_name()
RESULT = f"reasoning_result:{name}"
REDRAW_S = 0.05
dataset, sidmap = ui.page_data(name)
variant = None
with ui.guarded("Listing variants"):
    variant = state.active_variant(resources.variants(name))
if variant is None:
    st.info("No trained model for this dataset yet: the sidebar offers to train one.")
    st.stop()

history = state.history()
st.markdown(f"Variant **{ui.md(variant['name'])}**, history of {len(history)} item(s) from the History builder.")
if history:
    with st.expander("History"):
        for index, item_id in enumerate(history, start=1):
            st.markdown(f"{index}. {ui.item_markdown(item_id, dataset, sidmap)}")
user_id = st.session_state.get("history_user_id") or ""
profile = dataset.users[user_id].profile() if user_id in dataset.users else ""
use_profile = st.checkbox(f"Include the profile of user {user_id} ({profile})" if profile else "Include a profile",
                          key="reasoning_profile", disabled=not profile,
                          help=None if profile else "start the history from a real user to use their profile")
left, right = st.columns(2)
max_new = left.slider("Max new tokens", 8, 512, recommend.MAX_REASONING_TOKENS, key="reasoning_max_tokens",
                      help="the evaluation gives reasoning variants this many tokens by default")
temperature = right.slider("Temperature (0 = greedy)", 0.0, 1.5, 0.0, 0.1, key="reasoning_temperature")

reason = "" if history else "the history is empty: add items on the History builder page"
clicked = st.button("Recommend", type="primary", key="recommend", disabled=bool(reason))
if reason:
    st.caption(f"Recommend is disabled: {reason}.")

if clicked:
    st.session_state.pop(RESULT, None)
    with ui.guarded("Recommending"):
        with st.spinner("Loading the model (once per checkpoint)..."):
            model, tokenizer, meta, trie = resources.model(variant, name)
        prompt, notes = recommend.prompt_for(tokenizer, meta, sidmap, dataset, history,
                                             profile if use_profile else None)
        for note in notes:
            st.info(note)
        st.markdown("**Reasoning**")
        box = st.empty()
        text, first, shown, started = "", None, 0.0, time.perf_counter()
        for chunk in recommend.stream(model, tokenizer, prompt, max_new, temperature):
            now = time.perf_counter()
            first = first if first is not None else now - started
            text += chunk
            if now - shown >= REDRAW_S:  # redraw at most ~20 times a second, however fast tokens come
                box.markdown(traces.reasoning_markdown(text, dataset, sidmap) + " ▌")
                shown = now
        seconds = time.perf_counter() - started
        tokens = recommend.token_count(tokenizer, text)
        with st.spinner("Constrained beam search over the SID trie..."):
            searched = time.perf_counter()
            topk, tree = recommend.rank(model, tokenizer, trie, prompt, text, history)
            search_seconds = time.perf_counter() - searched
        flags = resources.faithfulness(name).flags(text, history)
        speed = {"first_token_s": first or 0.0, "tokens": tokens, "seconds": seconds, "search_s": search_seconds}
        st.session_state[RESULT] = {"variant": variant["name"], "history": history, "prompt": prompt,
                                    "reasoning": text, "topk": topk, "tree": tree, "flags": flags, "speed": speed}
        state.remember_recommendations(variant["name"], [r["item_id"] for r in topk])
        box.empty()

result = st.session_state.get(RESULT)
if result:
    speed = result["speed"]
    st.markdown(f"**Reasoning** of {ui.md(result['variant'])}")
    if result["reasoning"].strip():
        st.markdown(traces.reasoning_markdown(result["reasoning"], dataset, sidmap))
    else:
        st.caption(f"(nothing but whitespace was generated: {len(result['reasoning'])} characters)")
    cols = st.columns(4)
    cols[0].metric("First token", f"{speed['first_token_s']:.2f} s")
    cols[1].metric("Tokens", speed["tokens"])
    rate = recommend.decode_rate(speed["tokens"], speed["seconds"], speed["first_token_s"])
    cols[2].metric("Tokens/s", f"{rate:.1f}", help="after the first token (the prefill is the time to the first token)")
    cols[3].metric("Beam search", f"{speed['search_s']:.2f} s")
    st.subheader("Top-10 (constrained beam search, history excluded)")
    st.dataframe(traces.topk_rows(result["topk"], dataset), hide_index=True)
    st.plotly_chart(charts.beam_tree(result["tree"], lambda codes: "".join(token(lv, c) for lv, c in enumerate(codes))),
                    key="beam_tree")
    st.caption("The beams kept at each SID level: node size and colour = that level's token probability.")
    st.subheader("Faithfulness of the reasoning")
    traces.show_flags(result["flags"])
    if st.button("Send this trace to the labeling queue", key="send_to_queue"):
        with ui.guarded("Sending the trace"):
            tid = labels.send_to_queue(resources.store(), run=result["variant"], history=result["history"],
                                       prompt=result["prompt"], reasoning=result["reasoning"],
                                       topk=result["topk"], flags=result["flags"], user_id=user_id)
            st.success(f"Queued as trace {tid}: open the Label page to judge it.")
