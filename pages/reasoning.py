"""Reasoning: stream the active variant's thinking token by token, then its constrained top-10; why
an item was recommended (leave-one-out attribution) and what an edited history would change."""
from __future__ import annotations

import time

import streamlit as st

from app import charts, resources, state, traces, ui
from core import explain, labels, recommend
from core.eval.traces import close_reasoning
from core.sid.sidmap import token

st.title("Reasoning")
name = state.dataset_name()
RESULT = f"reasoning_result:{name}"
REDRAW_S = 0.05
dataset, sidmap = ui.page_data(name)
variant = ui.active_variant(name)

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
    for key in (RESULT, f"{RESULT}:explain", f"{RESULT}:whatif", f"{RESULT}:beliefs"):
        st.session_state.pop(key, None)
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
        flags = resources.faithfulness(name).flags(text, history, answer=topk[0]["item_id"] if text.strip() and topk
                                                   else None)
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
    with st.expander("What the model thinks these SIDs are"):
        st.caption("For each SID in the reasoning and the top-10: the real item, and what this variant answers "
                   "when asked for the title and genres of that SID (the alignment probe's prompts). A wrong "
                   "belief means the model reasons over a SID it does not know.")
        if st.button("Ask the model about these SIDs", key="beliefs"):
            with ui.guarded("Asking the model"):
                from core.decode.stream import split_sid_chunks

                model, tokenizer, meta, trie = resources.model(variant, name)
                named = [i for kind, _, i in split_sid_chunks(result["reasoning"], sidmap) if kind == "sid" and i]
                with st.spinner("Greedy answers for each SID..."):
                    st.session_state[f"{RESULT}:beliefs"] = explain.sid_beliefs(
                        model, tokenizer, dataset, sidmap, named + [r["item_id"] for r in result["topk"]], trie)
        beliefs = st.session_state.get(f"{RESULT}:beliefs")
        if beliefs is not None:
            right = sum(b.right for b in beliefs)
            st.markdown(f"The model names {right} of {len(beliefs)} SID(s) correctly.")
            st.dataframe([{"sid": b.sid, "item": b.title, "the model says": b.believed, "its genres": b.genres,
                           "right": "yes" if b.right else "no"} for b in beliefs], hide_index=True, key="beliefs_table")
    st.subheader("Faithfulness of the reasoning")
    traces.show_flags(result["flags"])
    if st.button("Send this trace to the labeling queue", key="send_to_queue"):
        with ui.guarded("Sending the trace"):
            tid = labels.send_to_queue(resources.store(), run=result["variant"], history=result["history"],
                                       prompt=result["prompt"], reasoning=result["reasoning"],
                                       topk=result["topk"], flags=result["flags"], user_id=user_id)
            st.success(f"Queued as trace {tid}: open the Label page to judge it.")

    st.subheader("Why this item")
    ranked = [r["item_id"] for r in result["topk"]]
    target = st.selectbox("Item to explain", ranked, key="explain_item",
                          format_func=lambda i: f"#{ranked.index(i) + 1} {ui.item_label(dataset.items.get(i))}")
    held = "the reasoning above is held fixed; " if result["reasoning"].strip() else ""
    st.caption(f"Each history item is left out in turn and the item's SID scored again ({held}one batched "
               "forward over the edited prompts).")
    if st.button("Explain: leave each history item out", key="explain"):
        with ui.guarded("Explaining"):
            model, tokenizer, meta, _ = resources.model(variant, name)
            with st.spinner("Scoring the leave-one-out prompts..."):
                st.session_state[f"{RESULT}:explain"] = explain.leave_one_out(
                    model, tokenizer, meta, sidmap, dataset, result["history"], target,
                    reasoning=close_reasoning(result["reasoning"])[0])
    attribution = st.session_state.get(f"{RESULT}:explain")
    if attribution is not None and attribution.target in ranked:
        st.plotly_chart(charts.attribution_bars(
            [f"{e.position + 1}. {ui.item_label(dataset.items.get(e.item_id))}" for e in attribution.effects],
            [e.effect for e in attribution.effects]), key="attribution")
        note = (f"; the {attribution.left_out_of} oldest item(s) lie outside the prompt's window and are not attributed"
                if attribution.left_out_of else "")
        st.caption(f"Effects on {ui.md(ui.item_label(dataset.items.get(attribution.target)))} "
                   f"(log-prob {attribution.logp:.2f}), most influential first; held fixed: {attribution.held_fixed}{note}.")

    st.subheader("What if")
    shown = result["history"]
    removed = st.multiselect("Remove from the history", shown, key="whatif_remove",
                             format_func=lambda i: ui.item_label(dataset.items.get(i)))
    added = st.multiselect("Add as the latest items", [i for i in dataset.items if i not in shown], key="whatif_add",
                           format_func=lambda i: ui.item_label(dataset.items.get(i)))
    latest = st.selectbox("Move to the latest position", [None] + shown, key="whatif_move",
                          format_func=lambda i: "(keep the order)" if i is None else ui.item_label(dataset.items.get(i)))
    pinned = st.selectbox("Pin an item to follow", ranked, key="whatif_pin",
                          format_func=lambda i: ui.item_label(dataset.items.get(i)))
    edited = explain.edit_history(shown, remove=removed, add=added, move_to_latest=latest)
    if st.button("Re-rank the edited history", key="whatif", disabled=edited == shown or not edited):
        with ui.guarded("Re-ranking"):
            model, tokenizer, meta, trie = resources.model(variant, name)
            prompt, _ = recommend.prompt_for(tokenizer, meta, sidmap, dataset, edited,
                                             profile if use_profile else None)
            with st.spinner("Constrained beam search for the edited history..."):
                topk, _ = recommend.rank(model, tokenizer, trie, prompt, result["reasoning"], edited)
            st.session_state[f"{RESULT}:whatif"] = {"history": edited, "ranked": [r["item_id"] for r in topk]}
    whatif = st.session_state.get(f"{RESULT}:whatif")
    if whatif is not None:
        moves = explain.diff_top(ranked, whatif["ranked"])
        st.dataframe([{"item": ui.item_label(dataset.items.get(m.item_id)), "before": m.before, "after": m.after,
                       "change": m.change} for m in moves], hide_index=True, key="whatif_diff")
        pin = explain.pinned_change(ranked, whatif["ranked"], pinned)
        st.markdown(f"Pinned **{ui.md(ui.item_label(dataset.items.get(pinned)))}**: rank {pin.before or '-'} -> "
                    f"{pin.after or 'outside the top-10'} ({pin.change}).")
        if result["reasoning"].strip():
            st.caption("The reasoning above is held fixed; only the history in the prompt changed.")
