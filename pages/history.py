"""History builder: search items, start from a real user or a profile, edit, save and reload."""
from __future__ import annotations

import streamlit as st

from app import resources, state, ui
from core import histories as H

st.title("History builder")
name = state.dataset_name()


def _add(item_id: str) -> None:
    state.set_history(state.history() + [item_id])


def _move(index: int, offset: int) -> None:
    state.set_history(H.move(state.history(), index, offset))


def _remove(index: int) -> None:
    items = state.history()
    del items[index]
    state.set_history(items)


dataset, sidmap = ui.page_data(name, need_sids=False)

build, current = st.columns([3, 2], gap="large")
with build:
    search, user_tab, profile_tab, saved_tab = st.tabs(["Search", "Real user", "Profile", "Saved"])
    with search:
        query = st.text_input("Title contains", key="search_query", placeholder="e.g. star wars")
        low, high = H.year_range(dataset)
        left, right = st.columns(2)
        genres = left.multiselect("Genres (all of)", H.genres(dataset), key="search_genres")
        years = right.slider("Release year", low, high, (low, high), key="search_years")
        hits = H.search_items(dataset, query, genres, None if years == (low, high) else years, limit=20,
                              pop=resources.popularity(name))
        st.caption(f"{len(hits)} item(s) shown, most watched first")
        for item in hits:
            text, button = st.columns([6, 1])
            text.markdown(ui.item_markdown(item.item_id, dataset, sidmap))
            button.button("Add", key=f"add:{item.item_id}", on_click=_add, args=(item.item_id,),
                          disabled=item.item_id in state.history(), help="append to the history")
    with user_tab:
        users = sorted(dataset.sequences, key=lambda u: (len(u), u))
        user_id = st.selectbox("User", users, key="history_user",
                               format_func=lambda u: f"{u} ({dataset.users[u].profile() or 'no profile'})"
                               if u in dataset.users else u)
        window = st.slider("Items (the last ones before the user's test item)", 1, 50, 20, key="history_window")
        if st.button("Use this user's history", key="use_user"):
            with ui.guarded("Taking the user's history"):
                state.set_history(H.user_history(dataset, user_id, window))
                st.session_state["history_user_id"] = user_id
                st.rerun()
    with profile_tab:
        people = list(dataset.users.values())
        left, right = st.columns(2)
        gender = left.selectbox("Gender", ["any", *sorted({u.gender for u in people if u.gender})],
                                key="profile_gender")
        job = right.selectbox("Occupation", ["any", *sorted({u.occupation for u in people if u.occupation})],
                              key="profile_job")
        ages = st.slider("Age band", 1, 100, (18, 35), key="profile_ages")
        length = st.slider("Items", 1, 30, 10, key="profile_length")
        if st.button("Use a typical history for this profile", key="use_profile"):
            with ui.guarded("Building a profile history"):
                state.set_history(H.profile_history(dataset, None if gender == "any" else gender,
                                                    None if job == "any" else job, ages, length))
                st.session_state["history_user_id"] = ""
                st.rerun()
    with saved_tab:
        db = resources.store()
        saved = H.saved_histories(db, name)
        chosen = st.selectbox("Saved histories", saved, key="saved_choice", index=None,
                              placeholder="none saved yet" if not saved else "choose one")
        left, right = st.columns(2)
        if left.button("Load", key="load_saved", disabled=chosen is None):
            with ui.guarded("Loading the history"):
                items, notes = H.load_history(db, chosen, dataset)
                for note in notes:
                    st.warning(note)
                state.set_history(items)
                st.rerun()
        if right.button("Delete", key="delete_saved", disabled=chosen is None):
            H.delete_history(db, chosen)
            st.rerun()
        save_name = st.text_input("Save the current history as", key="save_name")
        reason = ("add items first" if not state.history() else "type a name first" if not save_name.strip() else "")
        if st.button("Save", key="save_history", disabled=bool(reason), help=reason or "saved in the store"):
            with ui.guarded("Saving the history"):
                H.save_history(db, save_name, name, state.history())
                st.success(f"Saved {len(state.history())} items as {ui.md(repr(save_name.strip()))}.")
        if reason:
            st.caption(f"Save is disabled: {reason}.")

with current:
    items = state.history()
    st.subheader(f"Current history ({len(items)} items)")
    if not items:
        st.info("Empty: add items from the search, or start from a real user or a profile.")
    for index, item_id in enumerate(items):
        text, up, down, drop = st.columns([8, 1, 1, 1])
        text.markdown(f"{index + 1}. {ui.item_markdown(item_id, dataset, sidmap)}")
        up.button("↑", key=f"up:{index}", on_click=_move, args=(index, -1), disabled=index == 0, help="earlier")
        down.button("↓", key=f"down:{index}", on_click=_move, args=(index, 1), disabled=index == len(items) - 1,
                    help="later")
        drop.button("✕", key=f"rm:{index}", on_click=_remove, args=(index,), help="remove")
    if items:
        st.button("Clear", key="clear_history", on_click=state.set_history, args=([],))
        st.caption("Oldest first. The Reasoning page recommends the next item for this history.")
