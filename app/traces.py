"""Showing one recommendation trace (history, reasoning, top-10, automatic flags) the same way on
the Reasoning, Compare and Label pages."""
from __future__ import annotations

import streamlit as st

from app import ui


def reasoning_markdown(text: str, dataset, sidmap) -> str:
    """Generated text with every SID as a chip (see `ui.reasoning_markdown`)."""
    from core.decode.stream import split_sid_chunks  # imported here: that module loads torch

    return ui.reasoning_markdown(split_sid_chunks(text, sidmap), dataset)


def topk_rows(topk: list, dataset, sidmap=None) -> list[dict]:
    """Rows for st.dataframe from recommendations: item ids (per-user results), dicts (stored traces) or
    `Recommendation` objects (fresh from the beam search); SIDs looked up in `sidmap` when missing."""
    rows = []
    for rank, rec in enumerate(topk, start=1):
        rec = {"item_id": rec} if isinstance(rec, str) else rec if isinstance(rec, dict) else vars(rec)
        item = dataset.items.get(str(rec.get("item_id")))
        known = sidmap is not None and item is not None and item.item_id in sidmap.codes
        sid = rec.get("sid") or (sidmap.sid_text(item.item_id) if known else "")
        row = {"rank": rank, "item": ui.item_label(item), "sid": sid}
        for level, prob in enumerate(rec.get("level_probs") or []):
            row[f"p(level {level + 1})"] = prob
        if rec.get("score") is not None:
            row["log-prob"] = rec["score"]
        rows.append(row)
    return rows


def flag_rows(flags: dict) -> list[dict]:
    """Raised faithfulness flags ({flag: [one line per problem]}, `core.eval.faithfulness`) as rows."""
    return [{"flag": flag, "problem": line} for flag, lines in (flags or {}).items() for line in lines]


def show_flags(flags: dict | None) -> None:
    if flags is None:
        return
    rows = flag_rows(flags)
    if rows:
        st.warning(f"{len(rows)} automatic faithfulness flag(s)")
        st.dataframe(rows, hide_index=True)
    else:
        st.caption("No automatic faithfulness flag: every SID names an item, no checked claim "
                   "(history, year, genre, title-SID pairing) contradicts the data, and no prediction in the "
                   "reasoning disagrees with the top-1 answer.")


def show_trace(trace: dict, dataset, sidmap, history: bool = True) -> None:
    if history and trace.get("history"):
        with st.expander(f"History ({len(trace['history'])} items)"):
            for index, item_id in enumerate(trace["history"], start=1):
                st.markdown(f"{index}. {ui.item_markdown(str(item_id), dataset, sidmap)}")
    if trace.get("target"):
        st.markdown(f"Target: {ui.item_markdown(str(trace['target']), dataset, sidmap)}"
                    + (f" (rank {trace['target_rank']})" if trace.get("target_rank") else " (not in the top-10)"))
    st.markdown("**Reasoning**")
    if (trace.get("reasoning") or "").strip():
        st.markdown(reasoning_markdown(trace["reasoning"], dataset, sidmap))
    else:
        st.caption("(no reasoning text: this variant answers with the SID directly)")
    rows = topk_rows(trace.get("topk") or [], dataset, sidmap)
    if rows:
        st.dataframe(rows, hide_index=True)
    show_flags(trace.get("flags"))
