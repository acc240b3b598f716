"""History builder: search and add, reorder, remove, start from a user or a profile, save and reload."""
from __future__ import annotations

from core.data.registry import load_dataset
from core.store import Store

HISTORY = "history:ml-100k"


def test_search_add_reorder_remove(app):
    at = app("history")
    at.text_input(key="search_query").input("star wars").run()
    at.button(key="add:50").click().run()  # Star Wars (1977)
    at.text_input(key="search_query").input("fargo").run()
    at.button(key="add:100").click().run()
    assert at.session_state[HISTORY] == ["50", "100"]
    assert at.button(key="add:100").disabled  # already in the history
    shown = [m.value for m in at.markdown if m.value.startswith(("1. ", "2. "))]
    assert "Star Wars" in shown[0] and "Fargo" in shown[1] and "-background[a\\_" in shown[0]
    at.button(key="up:1").click().run()
    assert at.session_state[HISTORY] == ["100", "50"]
    at.button(key="rm:0").click().run()
    assert at.session_state[HISTORY] == ["50"]
    assert not at.exception


def test_genre_and_year_filters_narrow_the_search(app):
    at = app("history")
    at.multiselect(key="search_genres").select("Film-Noir").run()
    at.slider(key="search_years").set_value((1940, 1950)).run()
    items = load_dataset("ml-100k").items
    added = [b.key.split(":")[1] for b in at.button if b.key and b.key.startswith("add:")]
    assert added and all("Film-Noir" in items[i].genres and 1940 <= items[i].year <= 1950 for i in added)


def test_user_and_profile_starting_points(app):
    at = app("history")
    at.selectbox(key="history_user").select("1").run()
    at.slider(key="history_window").set_value(5).run()
    at.button(key="use_user").click().run()
    seq = [x.item_id for x in load_dataset("ml-100k").sequences["1"]]
    assert at.session_state[HISTORY] == seq[-6:-1]
    at.selectbox(key="profile_gender").select("F").run()
    at.selectbox(key="profile_job").select("student").run()
    at.button(key="use_profile").click().run()
    assert len(at.session_state[HISTORY]) == 10 and at.session_state[HISTORY] != seq[-6:-1]
    at.slider(key="profile_ages").set_value((95, 99)).run()
    at.button(key="use_profile").click().run()
    assert any("no user matches" in e.value for e in at.error) and not at.exception


def test_save_and_reload_a_named_history(app, app_env):
    at = app("history")
    assert at.button(key="save_history").disabled  # empty history: disabled, with the reason shown
    assert any("add items first" in c.value for c in at.caption)
    at.button(key="use_user").click().run()
    built = at.session_state[HISTORY]
    at.text_input(key="save_name").input("user one").run()
    at.button(key="save_history").click().run()
    assert Store(app_env).get("histories", "user one")["items"] == built  # in the SQLite file
    at.button(key="clear_history").click().run()
    assert at.session_state[HISTORY] == []
    at.selectbox(key="saved_choice").select("user one").run()
    at.button(key="load_saved").click().run()
    assert at.session_state[HISTORY] == built
