"""Overview page and the shared sidebar, on the real ml-100k with its SIDs."""
from __future__ import annotations

from core.data.registry import load_dataset
from core.data.split import Split
from core.eval.popularity import run_popularity
from core.store import Store


def test_overview_shows_dataset_sids_runs_and_the_active_variant(app):
    Store().start_run("sft-draft", dataset="ml-100k", stage="sft", config={})  # a run without metrics yet
    run_popularity(Store(), Split(load_dataset("ml-100k")))
    at = app("overview")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Users"] == "943" and metrics["Items"] == "1,682" and metrics["Interactions"] == "100,000"
    assert metrics["Method"] == "rqkmeans" and metrics["Collisions after"] == "0.0%"
    runs = at.dataframe[0].value
    assert set(runs["run"]) == {"popularity", "sft-draft"}
    assert 0 < runs.set_index("run").loc["popularity", "hr@10"] < 1
    variant = at.sidebar.selectbox(key="variant")
    assert variant.value == "tiny" and "tiny" in "".join(m.value for m in at.markdown)


def test_without_sids_the_sidebar_offers_the_pipeline(app, monkeypatch, tmp_path):
    monkeypatch.setenv("SIDLENS_DATA_DIR", str(tmp_path / "fresh"))
    at = app("overview")
    assert any("no Semantic IDs" in w.value for w in at.sidebar.warning)
    assert at.sidebar.button(key="pipeline_sids").label.startswith("Prepare data and build SIDs")
    assert {m.label for m in at.metric} >= {"Users", "Items"}
    for page in ("history", "reasoning", "codebook", "compare", "label"):
        at.switch_page(f"../pages/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])


def test_without_a_trained_model_the_sidebar_offers_training(app, monkeypatch):
    monkeypatch.delenv("SIDLENS_TINY_MODEL")
    at = app("overview")
    assert any("No trained model" in w.value for w in at.sidebar.warning)
    assert at.sidebar.button(key="pipeline_sft").label.startswith("Train the quick SFT model")
    Store().start_run("sft", dataset="ml-100k", stage="sft", config={})  # a training in progress
    at.run()
    assert any("Unfinished: sft" in i.value for i in at.sidebar.info)
    assert not [b for b in at.sidebar.button if b.key == "pipeline_sft"]  # no second training
