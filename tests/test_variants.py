"""Variants: shipped checkpoints registered, baselines and unfinished runs left out; comparisons."""
from __future__ import annotations

import pytest

from core import variants as V
from core.errors import SidLensError
from core.eval.results import save_results
from core.llm.adapter import save_checkpoint
from core.llm.tiny import tiny_model
from core.runs import card, register_shipped
from core.sid.sidmap import SidMap


def test_shipped_checkpoints_become_variants(store, tmp_path, monkeypatch):
    monkeypatch.setenv("SIDLENS_CHECKPOINTS", str(tmp_path / "checkpoints"))
    model, tokenizer = tiny_model()
    sidmap = SidMap("ml-100k", "test", [2, 2, 2], {"1": (0, 0, 0), "2": (1, 1, 1)})
    folder = save_checkpoint(model, tokenizer, sidmap, tmp_path / "checkpoints" / "sft", {"base_model": "tiny"})
    card.write_run(folder, {"stage": "sft", "dataset": "ml-100k"})
    card.add_metrics(folder, "test", {"hr@10": 0.25}, users=943, seconds=1.0)
    other = type(store)(":memory:")  # the store of the machine that trained it, where the run had another name
    other.log_steps("sft-gpu", 1, {"loss": 2.5, "learning_rate": 1e-3})
    card.write_logs(folder, other, "sft-gpu")
    (tmp_path / "checkpoints" / "broken").mkdir()
    store.start_run("sasrec", dataset="ml-100k", stage="baseline", config={}, checkpoint="data/runs/sasrec/model.pt",
                    status="done")
    store.start_run("grpo", dataset="ml-100k", stage="grpo", config={}, checkpoint="x")  # still running
    problems = register_shipped(store)
    assert len(problems) == 1 and "broken" in problems[0]
    assert [v["name"] for v in V.variants(store, "ml-100k")] == ["sft"]
    for name, stage in (("a-dpo", "dpo"), ("grpo2", "grpo"), ("expb", "sft"), ("zz", "custom")):
        store.start_run(name, dataset="ml-100k", stage=stage, config={}, checkpoint="x", status="done")
    assert [v["name"] for v in V.variants(store, "ml-100k")] == ["expb", "sft", "grpo2", "a-dpo", "zz"]
    for name in ("a-dpo", "sasrec", "sft", "zz"):
        store.record_metrics(name, "test@200", {"hr@10": 0.1}, users=200)
    assert V.runs_with_metrics(store, "ml-100k", "test@200") == ["sft", "a-dpo", "zz", "sasrec"]  # baselines last
    assert V.variants(store, "other") == []
    assert store.metrics("sft") == {"hr@10": 0.25}
    assert {(r["run"], r["step"], r["key"], r["value"]) for r in store.rows("run_logs")} == \
        {("sft", 1, "loss", 2.5), ("sft", 1, "learning_rate", 1e-3)}  # the training curve comes along
    again = register_shipped(store)  # registered once; the broken folder is reported again
    assert len(again) == 1 and "broken" in again[0]


def _results(store, run: str, tops: dict[str, list[str]]) -> None:
    store.start_run(run, dataset="ml-100k", stage="baseline", config={}, status="done")
    rows = [{"user_id": u, "target": "9", "topk": top, "rank": top.index("9") + 1 if "9" in top else None}
            for u, top in tops.items()]
    save_results(store, run, "test", rows, {"hr@1": sum(r["rank"] == 1 for r in rows) / len(rows), "mrr": 0.5},
                 users=len(rows))


def test_metrics_curves_and_disagreement(store):
    _results(store, "a", {"1": ["9", "2"], "2": ["3", "4"], "3": ["5"]})
    _results(store, "b", {"1": ["9", "7"], "2": ["4", "3"]})
    store.log_steps("b", 1, {"loss": 2.0, "kl": 0.1})
    assert V.runs_with_metrics(store, "ml-100k") == ["a", "b"] and V.runs_of(store, "ml-100k") == ["a", "b"]
    store.record_metrics("b", "test@100", {"hr@1": 0.0}, users=100)
    store.start_run("c", dataset="ml-100k", stage="sft", config={})
    store.record_metrics("c", "test@100", {"hr@1": 0.0}, users=100)
    assert V.splits(store, "ml-100k") == ["test", "test@100"]
    store.record_metrics("a", "test@100", {"hr@1": 0.0}, users=100)
    assert V.splits(store, "ml-100k") == ["test@100", "test"] and V.splits(store, "other") == []
    store.record_metrics("c", "test@30", {"hr@1": 1.0}, users=30)
    widest = V.metrics_table(store, ["a", "c"], None)
    assert [(r["run"], r["split"], r["hr@1"]) for r in widest] == [("a", "test", pytest.approx(1 / 3)),
                                                                  ("c", "test@100", 0.0)]
    store.record_metrics("c", "align@50", {"align_sid_to_title": 0.2}, users=50)
    store.record_metrics("c", "align", {"align_sid_to_title": 0.5}, users=1682)
    widest = V.metrics_table(store, ["a", "c"], None)  # the probe over the whole catalogue joins the row
    assert "align_sid_to_title" not in widest[0] and widest[1]["align_sid_to_title"] == 0.5
    table = V.metrics_table(store, ["a", "b"])
    assert list(table[0]) == ["run", "stage", "parent", "hr@1", "mrr"] and table[0]["hr@1"] == pytest.approx(1 / 3)
    assert {(r["key"], r["value"]) for r in V.curves(store, ["a", "b"])} == {("loss", 2.0), ("kl", 0.1)}
    users = V.per_user(store, ["a", "b"])
    assert list(users) == ["1", "2"]  # user 3 has no result for b
    assert not V.disagree(users["1"]) and V.disagree(users["1"], depth=2) and V.disagree(users["2"])
    with pytest.raises(SidLensError, match="at least one"):
        V.per_user(store, [])
    store.upsert("traces", {"id": "b/test/2", "run": "b", "split": "test", "user_id": "2", "reasoning": "r"})
    assert V.trace_for(store, "b", "2")["reasoning"] == "r" and V.trace_for(store, "a", "2") is None


def test_k_ablation_lists_candidate_protocol_runs_by_k(store):
    from core.eval.candidates import PROMPTED_KEY, PROMPTED_LIK_KEY

    runs = [("sdpo-k7", "sdpo", 7, "candidates", 0.30), ("dpo-c", "dpo", 1, "candidates", 0.25),
            ("sdpo-all", "sdpo", 3, "all-items", 0.40), ("sdpo-k3", "sdpo", 3, "candidates", 0.28)]
    for name, stage, k, protocol, value in runs:
        settings = {"negatives": k, "protocol": protocol}
        # a run trained in this store keeps its settings at the top of its config; one registered from its
        # checkpoint folder (a clean clone) keeps run.json, whose settings are nested
        config = {"settings": settings, "command": "..."} if name == "sdpo-k3" else settings
        store.start_run(name, dataset="ml-100k", stage=stage, config=config, status="done")
        store.record_metrics(name, "test", {PROMPTED_KEY: value}, 200)
    store.record_metrics("sdpo-k3", "test", {PROMPTED_LIK_KEY: 0.35}, 200)  # evaluated with the likelihood HR@1 too
    rows = V.k_ablation(store, "ml-100k")
    assert [(r["run"], r["K"], r["kind"]) for r in rows] == [("dpo-c", 1, "answer"), ("sdpo-k3", 3, "answer"),
                                                           ("sdpo-k3", 3, "likelihood"), ("sdpo-k7", 7, "answer")]
    assert rows[2]["hr@1"] == pytest.approx(0.35)  # all-items runs are not listed
    from core.runs import run_setting

    assert run_setting(store.run("sdpo-k3"), "grounding_reward", 0.0) == 0.0
    assert all(r["low"] < r["hr@1"] < r["high"] and r["users"] == 200 for r in rows)
    assert V.k_ablation(store, "ml-100k", "test@50") == []


def test_significance_adds_the_prompted_protocol_when_both_runs_answered_it(store):
    def prompted(run: str, picks: list[str | None], liked: list[str | None] | None = None) -> None:
        store.start_run(run, dataset="ml-100k", stage="sdpo", config={}, status="done")
        liked = liked or [None] * len(picks)
        rows = [{"user_id": str(u), "target": "9", "topk": ["9"], "rank": 1, "pick": pick,
                 "pick_listed": None if pick is None else int(pick != ""), "pick_lik": lik}
                for u, (pick, lik) in enumerate(zip(picks, liked))]
        save_results(store, run, "test", rows, {"hr@10": 1.0}, users=len(rows))

    prompted("k3", ["9", "9", "4", ""])
    prompted("k1", ["9", "4", "4", "4"])
    rows = {r["metric"]: r for r in V.significance(store, "k3", "k1")}
    assert list(rows) == ["hr@10", "ndcg@10", "cand20_prompted_hr@1", "cand20_valid_ratio"]
    assert rows["cand20_prompted_hr@1"]["difference"] == pytest.approx(0.25)
    assert rows["cand20_valid_ratio"]["difference"] == pytest.approx(-0.25)
    # with the likeliest listed candidate kept for both runs, its HR@1 joins (stored before: left out)
    prompted("k7", ["9", "9", "4", ""], ["9", "9", "9", "4"])
    prompted("k15", ["9", "4", "4", "4"], ["9", "4", "4", ""])
    rows = {r["metric"]: r for r in V.significance(store, "k7", "k15")}
    assert list(rows)[-1] == "cand20_prompted_lik_hr@1"
    assert rows["cand20_prompted_lik_hr@1"]["difference"] == pytest.approx(0.5)
    assert "cand20_prompted_lik_hr@1" not in [r["metric"] for r in V.significance(store, "k7", "k1")]
    prompted("plain", [None] * 4)  # evaluated without --prompted-candidates: the ranking metrics only
    assert [r["metric"] for r in V.significance(store, "k3", "plain")] == ["hr@10", "ndcg@10"]
