"""Side by side page: two variants (the tiny model and a saved tiny checkpoint that reasons) on one
history, each column with its top-10, and their agreement."""
from __future__ import annotations

from core.store import Store
from tests.app.test_reasoning import _with_user_history
from tests.helpers import lora_checkpoint, save_base


def _saved_tiny_checkpoint(tmp_path) -> str:
    from core.llm.tiny import tiny_model
    from core.sid.build import load_sidmap

    base = save_base(*tiny_model(seed=2), tmp_path / "tiny-base")
    return str(lora_checkpoint(base, load_sidmap("ml-100k"), tmp_path / "checkpoints" / "thinker", seed=2,
                               meta={"run": "thinker", "stage": "reason", "window": 20, "think": True, "history": "facts"}))


def test_one_variant_is_not_enough(app):
    at = _with_user_history(app)
    at.switch_page("../pages/side_by_side.py").run()
    assert not at.exception and any("at least two trained variants" in i.value for i in at.info)


def test_two_variants_side_by_side_with_their_agreement(app, app_env, tmp_path):
    Store(app_env).start_run("thinker", dataset="ml-100k", stage="reason", config={},
                             checkpoint=_saved_tiny_checkpoint(tmp_path), status="done")
    at = _with_user_history(app)
    at.switch_page("../pages/side_by_side.py").run()
    assert set(at.multiselect(key="side_variants").value) == {"thinker", "tiny"}
    at.slider(key="side_max_tokens").set_value(8).run()
    at.button(key="side_run").click().run(timeout=300)
    assert not at.exception and not at.error, [e.value for e in at.error]
    result = at.session_state["side_by_side:ml-100k"]["results"]
    assert set(result) == {"thinker", "tiny"} and all(len(r["topk"]) == 10 for r in result.values())
    assert result["thinker"]["reasoning"] != "" and result["tiny"]["reasoning"] == ""  # only the thinker reasons
    overlap = at.dataframe[-1].value  # the agreement table comes last
    shared = len({r["item_id"] for r in result["thinker"]["topk"]} & {r["item_id"] for r in result["tiny"]["topk"]})
    assert overlap["top-10 items in both"].tolist() == [shared]
