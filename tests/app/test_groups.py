"""RL groups page on the tiny model: a sampled group with rewards and advantages, bad group sizes,
and the group sent to the labeling queue as traces of one prompt."""
from __future__ import annotations

from core.store import Store
from tests.app.test_reasoning import _with_user_history


def _groups(app):
    at = _with_user_history(app)
    at.switch_page("../pages/groups.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_group_is_sampled_scored_and_queued(app, app_env):
    at = _groups(app)
    assert "real next item" in at.selectbox(key="group_target").format_func(at.selectbox(key="group_target").value)
    at.number_input(key="group_size").set_value(4).run()
    at.slider(key="group_max_tokens").set_value(16).run()
    at.button(key="sample_group").click().run(timeout=300)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("answers without reasoning" in w.value for w in at.warning)  # the tiny model does not think
    table = at.dataframe[0].value
    assert len(table) == 4 and set(table.columns) >= {"reward", "advantage", "levels matched"}
    assert abs(table["advantage"].sum()) < 1e-3  # advantages are centred within the group
    assert "grounded" not in table.columns  # the tiny variant was not trained with a grounding bonus
    at.number_input(key="group_grounding").set_value(0.3).run()
    at.button(key="sample_group").click().run(timeout=300)
    bonus = at.dataframe[0].value  # the same seeded samples, each raised by 0.3 where its reasoning is grounded
    assert list(bonus["#"]) == list(table["#"]) and "grounded" in bonus.columns
    assert ((bonus["reward"] - table["reward"] - 0.3 * bonus["grounded"].astype(float)).abs() < 1e-3).all()
    at.button(key="send_group").click().run()
    traces = Store(app_env).rows("traces")
    assert 1 <= len(traces) <= 4 and {t["prompt"] for t in traces} == {at.session_state["rl_group:ml-100k"]["prompt"]}


def test_bad_group_sizes_are_one_message(app):
    at = _groups(app)
    for size in (0, 17):
        at.number_input(key="group_size").set_value(size).run()
        at.button(key="sample_group").click().run()
        assert not at.exception
        assert any("group size must be between 2 and 16" in e.value for e in at.error)
