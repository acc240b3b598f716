"""The store: restarting a run forgets the old model's metrics, results and unlabeled eval traces."""
from __future__ import annotations

import multiprocessing

from core.eval.results import save_results
from core.store import Store


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


def _open_and_register(path, barrier, results):
    """One of several processes opening the same new database at the same moment (as DDP ranks do)."""
    barrier.wait()
    try:
        store = Store(path)
        store.start_run("ddp", dataset="x", stage="sft", parent=None, config={})
        results.put("ok")
    except Exception as exc:  # noqa: BLE001  (the parent reports it)
        results.put(repr(exc))


def test_processes_opening_a_new_database_together_do_not_collide(tmp_path):
    # Before the schema was created under BEGIN IMMEDIATE and WAL mode retried, most rounds failed
    # with "database is locked" or "table already exists".
    spawn = multiprocessing.get_context("spawn")
    for round_ in range(4):
        barrier, results = spawn.Barrier(3), spawn.Queue()
        path = str(tmp_path / f"new{round_}.db")
        workers = [spawn.Process(target=_open_and_register, args=(path, barrier, results)) for _ in range(3)]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
        assert outcomes == ["ok"] * 3, outcomes
    assert Store(path).run("ddp")["status"] == "running"
