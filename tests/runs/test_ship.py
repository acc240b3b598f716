"""`python -m core runs ship RUN --as NAME` (core.runs.ship): a run trained under its own name becomes
the shipped NAME, folder and store, with its card still saying how it was made."""
from __future__ import annotations

import json

import pytest

from core.atomic import read_jsonl, write_jsonl
from core.cli import main
from core.eval.traces import TRACES_FILE
from core.llm.adapter import META_FILE, save_checkpoint
from core.llm.tiny import tiny_model
from core.paths import checkpoints_dir
from core.runs import card, resolve_run
from core.sid.sidmap import SidMap
from core.store import Store


@pytest.fixture()
def two_runs():
    """A shipped `sft` (target ranked 1 for every user) and a candidate `cand` continued from it
    (target ranked 20: no hit), each with a card, metrics, traces and logs."""
    model, tokenizer = tiny_model()
    sidmap = SidMap("ml-100k", "test", [2, 2, 2], {"1": (0, 0, 0), "2": (1, 1, 1)})
    for run, rank, hr in (("sft", 1, 1.0), ("cand", 20, 0.0)):
        folder = save_checkpoint(model, tokenizer, sidmap, checkpoints_dir() / run, {"base_model": "tiny", "run": run})
        card.write_run(folder, {"run": run, "stage": "sft", "dataset": "ml-100k",
                                "command": f"python -m core train sft --run {run}",
                                "continues": [] if run == "sft" else [{"run": "sft", "command": "python -m core train sft"}]})
        card.add_metrics(folder, "test", {"hr@10": hr}, users=3, seconds=1.0)
        write_jsonl(folder / TRACES_FILE, [
            {"id": f"{run}/test/{u}", "run": run, "split": "test", "user_id": str(u), "history": ["1"], "prompt": "p",
             "reasoning": "", "topk": [{"item_id": "2"}], "target": "1", "target_rank": rank, "flags": {},
             "source": "eval", "created": "2026-12-06"} for u in range(3)])
        card.write_logs_rows(folder, [{"run": run, "step": 1, "key": "loss", "value": 2.0}])
    return sidmap


def test_a_candidate_replaces_the_shipped_folder_and_store_rows(two_runs, capsys):
    store = Store()
    resolve_run(store, "sft")  # the old sft is registered (as the app would have it)
    assert store.metrics("sft", "test")["hr@10"] == 1.0
    assert main(["runs", "ship", "cand", "--as", "sft"]) == 0
    assert "shipped cand as sft" in capsys.readouterr().out
    folder = checkpoints_dir() / "sft"
    assert json.loads((folder / META_FILE).read_text())["run"] == "sft"
    record = card.read_run(folder)
    assert record["run"] == "sft" and record["command"] == "python -m core train sft --run cand"
    readme = (folder / card.README_FILE).read_text()
    assert readme.index("train sft --run cand") < readme.index("runs ship cand --as sft")  # commands in order
    assert {row["id"] for row in read_jsonl(folder / TRACES_FILE)} == {"sft/test/0", "sft/test/1", "sft/test/2"}
    assert {row["run"] for row in read_jsonl(folder / card.LOGS_FILE)} == {"sft"}
    assert sorted(p.name for p in checkpoints_dir().iterdir()) == ["cand", "sft"]  # no staging left, cand kept
    store = Store()
    assert store.metrics("sft", "test")["hr@10"] == 0.0  # the candidate's numbers, not the old ones
    assert {r["rank"] for r in store.rows("user_results", "run = ?", ["sft"])} == {20}
    assert {r["id"] for r in store.rows("traces", "run = ?", ["sft"])} == {"sft/test/0", "sft/test/1", "sft/test/2"}


def test_labels_on_the_shipped_traces_refuse_the_ship(two_runs, capsys):
    store = Store()
    resolve_run(store, "sft")
    store.upsert("labels", {"trace_id": "sft/test/1", "annotator": "ann", "quality": 4, "flags": [], "note": "",
                            "updated": "2026-12-06"})
    assert main(["runs", "ship", "cand", "--as", "sft"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 1 labels refer to traces of 'sft'") and err.count("\n") == 1
    assert json.loads((checkpoints_dir() / "sft" / card.RUN_FILE).read_text())["command"].endswith("--run sft")
    assert main(["runs", "ship", "cand", "--as", "../x"]) == 2
    assert "cannot ship as '../x'" in capsys.readouterr().err
    assert main(["runs", "ship", "nope", "--as", "x"]) == 2
    assert "nope" in capsys.readouterr().err
