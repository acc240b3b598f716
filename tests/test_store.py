"""The store: restarting a run forgets the old model's metrics, results and unlabeled eval traces."""
from __future__ import annotations

from core.eval.results import save_results


def _trace(run: str, user: str, source: str = "eval") -> dict:
    return {"id": f"{run}/test/{user}", "run": run, "split": "test", "user_id": user, "reasoning": "r",
            "source": source}


def test_restarting_a_run_forgets_the_old_models_results_but_not_labels(store):
    store.start_run("a", dataset="ml-100k", stage="sft", config={})
    store.start_run("b", dataset="ml-100k", stage="sft", config={})
    for run in ("a", "b"):
        save_results(store, run, "test", [{"user_id": "1", "target": "9", "topk": ["9"], "rank": 1}],
                     {"hr@1": 1.0}, users=1)
        store.record_metrics(run, "test@100", {"hr@10": 0.5}, users=100)
    store.upsert("traces", [_trace("a", "1"), _trace("a", "2"), _trace("a", "3", source="app"), _trace("b", "1")])
    store.upsert("labels", {"trace_id": "a/test/2", "annotator": "ann", "quality": 4})
    store.log_steps("a", 1, {"loss": 2.0})

    store.start_run("a", dataset="ml-100k", stage="sft", config={"lr": 1})

    assert store.metrics("a") == {} and store.metrics("a", "test@100") == {}
    assert store.rows("user_results", "run = 'a'") == []
    assert sorted(t["id"] for t in store.rows("traces", "run = 'a'")) == ["a/test/2", "a/test/3"]
    assert store.metrics("b") == {"hr@1": 1.0} and store.metrics("b", "test@100") == {"hr@10": 0.5}
    assert len(store.rows("traces", "run = 'b'")) == 1 and len(store.rows("user_results", "run = 'b'")) == 1
    assert store.rows("run_logs", "run = 'a'")[0]["value"] == 2.0  # a resumed stage keeps its curve
    assert store.run("a")["config"] == {"lr": 1}
