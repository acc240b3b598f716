"""History building on the real MovieLens-100k: search, starting points, editing, saved histories."""
from __future__ import annotations

import pytest

from core import histories as H
from core.data.registry import load_dataset
from core.errors import SidLensError


@pytest.fixture(scope="module")
def ml100k(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("SIDLENS_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    yield load_dataset("ml-100k")
    mp.undo()


def test_search_by_title_genre_and_year(ml100k):
    hits = H.search_items(ml100k, "star trek", ["Sci-Fi"], (1980, 1998))
    assert hits and all("star trek" in h.title.lower() and "Sci-Fi" in h.genres and 1980 <= h.year <= 1998
                        for h in hits)
    pop = H.popularity(ml100k)
    assert [pop[h.item_id] for h in hits] == sorted((pop[h.item_id] for h in hits), reverse=True)
    assert H.search_items(ml100k, "no such film at all") == []
    assert len(H.search_items(ml100k, limit=7)) == 7
    assert "Film-Noir" in H.genres(ml100k) and H.year_range(ml100k)[0] < 1930


def test_user_history_ends_before_the_test_item(ml100k):
    seq = [x.item_id for x in ml100k.sequences["1"]]
    assert H.user_history(ml100k, "1", window=5) == seq[-6:-1]
    with pytest.raises(SidLensError, match="unknown user"):
        H.user_history(ml100k, "99999")


def test_profile_history_is_the_profile_s_most_seen_items(ml100k):
    users = H.matching_users(ml100k, "F", "student", (18, 25))
    assert users and all(ml100k.users[u].gender == "F" for u in users)
    items = H.profile_history(ml100k, "F", "student", (18, 25), length=5)
    counts = {i: sum(any(x.item_id == i for x in ml100k.sequences[u]) for u in users) for i in items}
    others = H.profile_history(ml100k, "M", "retired", None, length=5)
    assert len(items) == 5 and items != others and min(counts.values()) > len(users) // 4
    with pytest.raises(SidLensError, match="no user matches"):
        H.profile_history(ml100k, "F", "student", (90, 99))


def test_move_and_saved_histories(ml100k, store):
    assert H.move(["a", "b", "c"], 2, -1) == ["a", "c", "b"]
    assert H.move(["a", "b", "c"], 0, -1) == ["a", "b", "c"]
    H.save_history(store, "fans", "ml-100k", ["1", "50", "181"])
    store.upsert("histories", {"name": "old", "dataset": "ml-100k", "items": ["1", "nope"]})
    assert H.saved_histories(store, "ml-100k") == ["fans", "old"]
    assert H.load_history(store, "fans", ml100k) == (["1", "50", "181"], [])
    items, notes = H.load_history(store, "old", ml100k)
    assert items == ["1"] and "1 item(s)" in notes[0]
    H.delete_history(store, "old")
    assert H.saved_histories(store, "ml-100k") == ["fans"]
    with pytest.raises(SidLensError, match="empty"):
        H.save_history(store, "x", "ml-100k", [])
    with pytest.raises(SidLensError, match="no saved history"):
        H.load_history(store, "old", ml100k)
