"""Label page: labels reach the SQLite file the moment they are given; navigation, exports, kappa."""
from __future__ import annotations

import json

from core import labels as L
from core.store import Store


def _queue(store: Store, n: int = 3) -> list[str]:
    return [L.send_to_queue(store, run="tiny", history=["50", "100"], prompt="same prompt",
                            reasoning=f"<think>reason {i}</think>", topk=[{"item_id": "1", "sid": "<a_1><b_1><c_1>"}],
                            flags={"unknown_sid": []}, user_id="1") for i in range(n)]


def test_empty_queue(app):
    at = app("label")
    assert any("queue is empty" in i.value for i in at.info)


def test_labels_are_saved_at_once_and_navigation_works(app, app_env):
    _queue(Store(app_env))
    at = app("label")
    assert at.radio[0].disabled  # no annotator yet
    at.text_input(key="annotator").input("ann").run()
    current = L.queue(Store(app_env))[0]["id"]
    at.radio(key=f"quality:{current}:ann").set_value(4).run()
    saved = Store(app_env).get("labels", [current, "ann"])  # a fresh connection: it is committed
    assert saved["quality"] == 4 and saved["flags"]["faithful"] is False
    at.checkbox(key=f"flag:faithful:{current}:ann").check().run()
    at.text_area(key=f"note:{current}:ann").input("clear, cites the history").run()
    saved = Store(app_env).get("labels", [current, "ann"])
    assert saved["flags"]["faithful"] is True and saved["note"] == "clear, cites the history"
    assert "1 of 3" in at.get("progress")[0].proto.text
    at.button(key="label_skip").click().run()
    second = L.queue(Store(app_env))[1]["id"]
    at.radio(key=f"quality:{second}:ann").set_value(2).run()
    L.send_to_queue(Store(app_env), run="tiny", history=["1"], prompt="p", reasoning="newer", topk=[], flags={})
    at.run()  # a trace sent meanwhile joins the front of the queue: the one on screen stays
    assert at.radio(key=f"quality:{second}:ann").value == 2 and "of 4" in at.get("progress")[0].proto.text
    at.button(key="label_prev").click().run()
    assert at.radio(key=f"quality:{current}:ann").value == 4  # the saved label is shown again
    assert not at.exception


def test_exports_and_kappa(app, app_env):
    store = Store(app_env)
    ids = _queue(store)
    for tid, a, b in zip(ids, [5, 3, 1], [4, 3, 1]):
        L.save_label(store, tid, "ann", a, {"useful": a > 2})
        L.save_label(store, tid, "bob", b, {"useful": b > 2})
    at = app("label")
    downloads = at.get("download_button")
    assert len(downloads) == 3 and not any(d.proto.disabled for d in downloads)
    kappa = at.dataframe[-1].value.set_index("measure")["value"]
    assert kappa["traces"] == 3 and kappa["useful"] == 1.0
    pairs = L.preference_pairs(store)
    assert len(pairs) == 3 and all(json.loads(L.export_jsonl([p]))["prompt"] == "same prompt" for p in pairs)


def test_keyboard_buttons_save_quality_and_flip_flags(app, app_env):
    _queue(Store(app_env))
    at = app("label")
    at.text_input(key="annotator").input("ann").run()
    current = L.queue(Store(app_env))[0]["id"]
    at.button(key="quick_flag_faithful").click().run()
    assert Store(app_env).get("labels", [current, "ann"]) is None  # no quality yet: nothing saved
    assert any("before the flags" in i.value for i in at.info)
    at.button(key="quick_quality_3").click().run()
    assert Store(app_env).get("labels", [current, "ann"])["quality"] == 3
    assert at.radio(key=f"quality:{current}:ann").value == 3  # the radio shows what was saved
    at.button(key="quick_flag_faithful").click().run()
    saved = Store(app_env).get("labels", [current, "ann"])
    assert saved["quality"] == 3 and saved["flags"]["faithful"] is True
    assert at.checkbox(key=f"flag:faithful:{current}:ann").value is True
    assert any("Keys: 1-5 quality" in c.value for c in at.caption)


def test_direct_answer_traces_only_when_asked(app, app_env):
    L.send_to_queue(Store(app_env), run="tiny", history=["1"], prompt="p", reasoning="", topk=[], flags={})
    at = app("label")
    assert any("queue is empty" in i.value for i in at.info)
    at.checkbox(key="label_direct").check().run()
    assert "of 1" in at.get("progress")[0].proto.text
