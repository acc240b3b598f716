"""Label: judge reasoning traces one at a time; every answer is saved the moment it is given."""
from __future__ import annotations

import streamlit as st

from app import resources, state, traces, ui
from core import labels as L

st.title("Label")
name = state.dataset_name()
db = resources.store()
CURRENT = "label_trace"  # the trace on screen, by id: new traces joining the queue do not move it

annotator = st.text_input("Annotator", key=state.ANNOTATOR, placeholder="your name",
                          help="labels are kept per annotator, so two people can label the same traces")
others = {r["name"] for r in db.rows("runs", "dataset != ?", [name])}
here = [r for r in L.trace_runs(db) if r not in others]  # this dataset's runs, and the tiny test model
runs = st.multiselect("Runs", here, key="label_runs", placeholder="all runs",
                      help="traces sent from the Reasoning page carry the variant's name")
with_direct = st.checkbox("Include traces without reasoning (direct-answer variants)", key="label_direct",
                          help="by default the queue holds the traces that have reasoning to judge")
queue = L.queue(db, runs or here, with_direct=with_direct)
if not queue:
    st.info("The queue is empty: send a trace from the Reasoning or RL groups page, or evaluate a reasoning "
            "variant (its stored traces appear here); traces without reasoning show when included above.")
    st.stop()

mine = {r["trace_id"]: r for r in L.labels(db, annotator.strip())} if annotator.strip() else {}
done = sum(t["id"] in mine for t in queue)
st.progress(done / len(queue), text=f"{done} of {len(queue)} traces labeled by {annotator.strip() or 'nobody yet'}")
ids = [t["id"] for t in queue]
index = ids.index(st.session_state[CURRENT]) if st.session_state.get(CURRENT) in ids else 0
trace = queue[index]


def _go(target: int) -> None:
    st.session_state[CURRENT] = ids[max(0, min(len(ids) - 1, target))]


def _skip() -> None:
    """To the next trace this annotator has not labeled (wrapping around), else just the next one."""
    order = list(range(index + 1, len(queue))) + list(range(0, index))
    _go(next((i for i in order if queue[i]["id"] not in mine), index + 1))


nav = st.columns([1, 1, 1, 5])
nav[0].button("Previous", key="label_prev", on_click=_go, args=(index - 1,), disabled=index == 0, shortcut="P")
nav[1].button("Next", key="label_next", on_click=_go, args=(index + 1,), disabled=index == len(queue) - 1,
              shortcut="N")
nav[2].button("Skip", key="label_skip", on_click=_skip, help="to the next trace you have not labeled", shortcut="S")
nav[3].caption(f"Trace {index + 1} of {len(queue)}: run {ui.md(trace.get('run') or '?')}, "
               f"{'sent from the app' if trace.get('source') == 'app' else 'user ' + ui.md(trace.get('user_id'))}")

view, form = st.columns([3, 2], gap="large")
with view:
    with ui.guarded("Showing the trace"):
        traces.show_trace(trace, resources.dataset(name), resources.sidmap(name))

with form:
    st.subheader("Your label")
    key = f"{trace['id']}:{annotator.strip()}"
    given = mine.get(trace["id"])
    if not annotator.strip():
        st.warning("Type your name above to label.")

    def _save() -> None:
        """Runs as the widget's callback, before the rerun, on the trace the widget belonged to."""
        quality = st.session_state.get(f"quality:{key}")
        if quality is None:
            st.session_state["label_status"] = ("info", "Give a quality score to save this label.")
            return
        try:
            L.save_label(resources.store(), trace["id"], annotator, quality,
                         {flag: st.session_state.get(f"flag:{flag}:{key}", False) for flag in L.LABEL_FLAGS},
                         st.session_state.get(f"note:{key}", ""))
            st.session_state["label_status"] = ("success", f"Saved: quality {quality} for trace {trace['id']}.")
        except Exception as exc:  # shown below the form; the page stays usable
            st.session_state["label_status"] = ("error", f"Not saved: {ui.md(exc)}")

    def _quick(quality: int | None = None, flag: str | None = None) -> None:
        """A keyboard shortcut's callback: save with this quality, or with this flag flipped (the widgets'
        own state is dropped so they show the saved label on the rerun)."""
        current = quality or st.session_state.get(f"quality:{key}") or (given or {}).get("quality")
        flags = {f: st.session_state.get(f"flag:{f}:{key}", bool(given and (given.get("flags") or {}).get(f)))
                 for f in L.LABEL_FLAGS}
        if flag:
            flags[flag] = not flags[flag]
        if current is None:
            st.session_state["label_status"] = ("info", "Give a quality score (keys 1-5) before the flags.")
            return
        try:
            L.save_label(resources.store(), trace["id"], annotator, current, flags,
                         st.session_state.get(f"note:{key}", (given or {}).get("note", "")))
            st.session_state["label_status"] = ("success", f"Saved: quality {current} for trace {trace['id']}.")
        except Exception as exc:  # shown below the form; the page stays usable
            st.session_state["label_status"] = ("error", f"Not saved: {ui.md(exc)}")
        for widget in [f"quality:{key}"] + [f"flag:{f}:{key}" for f in L.LABEL_FLAGS]:
            st.session_state.pop(widget, None)

    disabled = not annotator.strip()
    keys = st.columns(5)
    for q, column in zip(range(1, 6), keys):
        column.button(str(q), key=f"quick_quality_{q}", on_click=_quick, kwargs={"quality": q}, disabled=disabled,
                      shortcut=str(q), help=f"quality {q} (key {q})", width="stretch")
    st.radio("Quality (1 = poor, 5 = excellent)", [1, 2, 3, 4, 5], horizontal=True, key=f"quality:{key}",
             index=None if given is None else given["quality"] - 1, on_change=_save, disabled=disabled)
    for number, (flag, text) in enumerate(L.LABEL_FLAGS.items(), start=1):
        box, toggle = st.columns([6, 1])
        box.checkbox(text, key=f"flag:{flag}:{key}", value=bool(given and (given.get("flags") or {}).get(flag)),
                     on_change=_save, disabled=disabled)
        toggle.button("flip", key=f"quick_flag_{flag}", on_click=_quick, kwargs={"flag": flag}, disabled=disabled,
                      shortcut=f"Alt+{number}", help=f"flip this flag (Alt+{number})")
    st.text_area("Note", key=f"note:{key}", value=(given or {}).get("note", ""), on_change=_save, disabled=disabled)
    st.caption("Keys: 1-5 quality, Alt+1..Alt+4 flip a flag, N next, P previous, S skip.")
    kind, message = st.session_state.pop("label_status", (None, None))
    if kind:
        getattr(st, kind)(message)
    elif given:
        st.caption(f"Saved {given['updated']}.")

st.divider()
with st.expander("Export and agreement"):
    rows = L.labels(db)
    left, middle, right = st.columns(3)
    left.download_button("Labels (JSONL)", L.export_jsonl(rows), "labels.jsonl", "application/jsonl",
                         disabled=not rows, key="export_jsonl")
    middle.download_button("Labels (CSV)", L.export_csv(rows), "labels.csv", "text/csv", disabled=not rows,
                           key="export_csv")
    pairs = L.preference_pairs(db)
    right.download_button("DPO pairs (JSONL)", L.export_jsonl(pairs), "pairs.jsonl", "application/jsonl",
                          disabled=not pairs, key="export_pairs",
                          help="for `python -m core train dpo --pairs pairs.jsonl`" if pairs else
                          "needs two traces of one prompt with different quality")
    st.caption(f"{len(rows)} label(s), {L.pairable_labels(db)} of them on traces that share a prompt with another "
               f"labeled trace (they can become pairs); {len(pairs)} preference pair(s).")
    people = L.annotators(db)
    if len(people) < 2:
        st.caption("Cohen's kappa needs two annotators.")
    else:
        first, second = st.columns(2)
        a = first.selectbox("Annotator A", people, index=0, key="kappa_a")
        b = second.selectbox("Annotator B", people, index=1, key="kappa_b")
        with ui.guarded("Cohen's kappa"):
            st.dataframe([{"measure": k, "value": v} for k, v in L.kappa(db, a, b).items()], hide_index=True)
