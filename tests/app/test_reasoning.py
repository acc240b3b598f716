"""Reasoning page on the tiny model: the real prompt, streaming, constrained top-10, flags, queue."""
from __future__ import annotations

from core.data.registry import load_dataset
from core.store import Store


def _with_user_history(app, user: str = "1"):
    at = app("history")
    at.selectbox(key="history_user").select(user).run()
    at.button(key="use_user").click().run()
    at.switch_page("../pages/reasoning.py").run()
    return at


def test_empty_history_disables_recommend_with_the_reason(app):
    at = app("reasoning")
    assert at.button(key="recommend").disabled
    assert any("history is empty" in c.value for c in at.caption)


def test_recommend_streams_ranks_flags_and_queues_the_trace(app, app_env):
    at = _with_user_history(app)
    history = at.session_state["history:ml-100k"]
    at.slider(key="reasoning_max_tokens").set_value(24).run()
    at.button(key="recommend").click().run(timeout=300)
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert 0 < int(metrics["Tokens"]) <= 24 and float(metrics["Tokens/s"]) > 0
    top = at.dataframe[0].value
    items = load_dataset("ml-100k").items
    assert len(top) == 10 and top["sid"].is_unique  # distinct items (ml-100k repeats some titles)
    assert not set(top["item"]) & {items[i].title for i in history}  # the history is excluded
    probs = top[["p(level 1)", "p(level 2)", "p(level 3)"]].to_numpy()
    assert ((probs > 0) & (probs <= 1)).all()
    assert at.session_state["recs:ml-100k"]["variant"] == "tiny"
    at.button(key="send_to_queue").click().run()
    traces = Store(app_env).rows("traces")
    assert len(traces) == 1 and traces[0]["source"] == "app" and traces[0]["history"] == history
    assert len(traces[0]["topk"]) == 10 and set(traces[0]["flags"]) >= {"unknown_sid", "not_in_history"}
    assert traces[0]["prompt"].endswith("assistant\n") and traces[0]["user_id"] == "1"


def test_a_model_that_fails_to_load_is_an_error_not_a_crash(app):
    Store().start_run("broken", dataset="ml-100k", stage="sft", config={}, checkpoint="/nonexistent/ckpt",
                      status="done")
    at = _with_user_history(app)
    at.sidebar.selectbox(key="variant").select("broken").run()
    at.button(key="recommend").click().run()
    assert not at.exception
    assert any("no checkpoint at /nonexistent/ckpt" in e.value for e in at.error)


def test_switching_pages_and_variants_keeps_the_model_loaded(app):
    from app import resources
    from core.sid.build import load_sidmap

    Store().start_run("other", dataset="ml-100k", stage="sft", config={}, checkpoint="/nonexistent/ckpt",
                      status="done")
    at = _with_user_history(app)
    at.slider(key="reasoning_max_tokens").set_value(8).run()
    at.button(key="recommend").click().run()
    loaded = resources._model("tiny", load_sidmap("ml-100k").hash, "ml-100k")  # the server's cached entry
    at.sidebar.selectbox(key="variant").select("other").run()
    at.switch_page("../pages/codebook.py").run()
    at.switch_page("../pages/reasoning.py").run()
    at.sidebar.selectbox(key="variant").select("tiny").run()
    at.button(key="recommend").click().run()
    assert not at.exception and not at.error
    assert resources._model("tiny", load_sidmap("ml-100k").hash, "ml-100k") is loaded


def test_explain_and_what_if_after_a_recommendation(app):
    at = _with_user_history(app)
    history = at.session_state["history:ml-100k"]
    at.slider(key="reasoning_max_tokens").set_value(8).run()
    at.button(key="recommend").click().run(timeout=300)
    top = list(at.session_state["reasoning_result:ml-100k"]["topk"])
    at.button(key="explain").click().run(timeout=300)
    assert not at.exception and not at.error, [e.value for e in at.error]
    attribution = at.session_state["reasoning_result:ml-100k:explain"]
    assert attribution.target == top[0]["item_id"] and len(attribution.effects) == len(history) - attribution.left_out_of
    assert any("held fixed" in c.value for c in at.caption)
    at.button(key="beliefs").click().run(timeout=300)
    assert not at.exception and not at.error, [e.value for e in at.error]
    beliefs = at.session_state["reasoning_result:ml-100k:beliefs"]
    assert {b.item_id for b in beliefs} >= {r["item_id"] for r in top}
    assert any(m.value.startswith("The model names") for m in at.markdown)
    at.multiselect(key="whatif_remove").select(history[-1]).run()
    at.selectbox(key="whatif_pin").select(top[3]["item_id"]).run()
    at.button(key="whatif").click().run(timeout=300)
    assert not at.exception and not at.error, [e.value for e in at.error]
    whatif = at.session_state["reasoning_result:ml-100k:whatif"]
    assert whatif["history"] == history[:-1] and len(whatif["ranked"]) == 10
    assert not set(whatif["ranked"]) & set(history[:-1])  # the edited history is excluded
    assert any(m.value.startswith("Pinned") for m in at.markdown)


def test_what_if_is_disabled_until_the_history_is_edited(app):
    at = _with_user_history(app)
    at.slider(key="reasoning_max_tokens").set_value(8).run()
    at.button(key="recommend").click().run(timeout=300)
    assert at.button(key="whatif").disabled
