"""Compare variants on two real baseline runs that disagree: metrics, curves, per-user drill-down."""
from __future__ import annotations

import pytest

from core.data.registry import load_dataset
from core.data.split import Split
from core.eval.popularity import run_popularity
from core.eval.ranking import RankingConfig
from core.store import Store


def test_metrics_curves_and_disagreement_drill_down(app):
    store, split = Store(), Split(load_dataset("ml-100k"))
    run_popularity(store, split)
    run_popularity(store, split, RankingConfig(exclude_seen=False), name="popularity-all")
    store.log_steps("popularity-all", 1, {"loss": 2.0})  # as a trainer logs; baselines have no curves
    store.log_steps("popularity-all", 2, {"loss": 1.5})
    at = app("compare")
    table = at.dataframe[0].value.set_index("run")
    assert list(table.index) == ["popularity", "popularity-all"]
    assert table.loc["popularity", "hr@10"] >= table.loc["popularity-all", "hr@10"]  # seen items waste slots
    assert len(at.get("plotly_chart")) == 2  # metric bars and the loss curve
    significance = at.dataframe[1].value.set_index("metric")
    assert significance.loc["hr@10", "users"] == 943
    assert significance.loc["hr@10", "difference"] == pytest.approx(
        table.loc["popularity", "hr@10"] - table.loc["popularity-all", "hr@10"])
    assert significance.loc["hr@10", "reading"] in ("higher", "within noise (the CI spans 0)")
    exposure = at.dataframe[2].value.set_index("run")
    assert exposure.loc["popularity-all", "coverage"] == pytest.approx(10 / 1682)  # one list for everybody
    assert exposure.loc["popularity-all", "gini"] > exposure.loc["popularity", "gini"] > 0.9
    assert exposure.loc["popularity", "top1_all_levels"] == pytest.approx(table.loc["popularity", "hr@1"])
    assert exposure.loc["popularity", "top1_level_1"] >= exposure.loc["popularity", "top1_levels_1_2"]
    assert at.toggle(key="compare_disagree").value
    pool = at.selectbox(key="compare_user").options
    assert 0 < len(pool) < 943
    at.toggle(key="compare_disagree").set_value(False).run()
    assert len(at.selectbox(key="compare_user").options) == 943
    at.selectbox(key="compare_user").select("1").run()
    per_run = [d.value for d in at.dataframe[3:5]]
    assert all(len(rows) == 10 for rows in per_run) and list(per_run[0]["item"]) != list(per_run[1]["item"])
    assert not at.exception


def test_no_metrics_says_how_to_get_them(app):
    at = app("compare")
    assert any("evaluate one" in i.value for i in at.info)
