"""The store: restarting a run forgets the old model's metrics, results and unlabeled eval traces."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from core.eval.results import save_results
from core.paths import REPO_ROOT
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



# Each process waits for the same instant, then opens the new database and registers a run.
OPEN_AT = """
import sys, time
from core.store import Store
at = float(sys.argv[2])
while time.time() < at:
    pass
Store(sys.argv[1]).start_run("ddp", dataset="x", stage="sft", parent=None, config={})
"""


def test_processes_opening_a_new_database_together_do_not_collide(tmp_path):
    # Before the schema was created under BEGIN IMMEDIATE and WAL mode retried, most rounds failed
    # with "database is locked" or "table already exists" (as the DDP test's two ranks did in CI).
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    for round_ in range(4):
        path, at = str(tmp_path / f"new{round_}.db"), time.time() + 1.5
        workers = [subprocess.Popen([sys.executable, "-c", OPEN_AT, path, str(at)], env=env, stderr=subprocess.PIPE,
                                    text=True) for _ in range(3)]
        errors = [w.communicate(timeout=60)[1] for w in workers]
        assert [w.returncode for w in workers] == [0, 0, 0], [e[-300:] for e in errors]
    assert Store(path).run("ddp")["status"] == "running"
