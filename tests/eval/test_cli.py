import json

import pytest

from core.cli import main


def test_runs_list_shows_popularity_metrics_after_a_run(capsys):
    assert main(["baselines", "run", "--dataset", "ml-100k", "--only", "popularity", "--json"]) == 0
    ran = json.loads(capsys.readouterr().out)["popularity"]
    assert ran["users"] == 943 and ran["test"]["hr@10"] > 0
    assert main(["runs", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["name"], listed["stage"], listed["dataset"], listed["status"]) == \
        ("popularity", "baseline", "ml-100k", "done")
    assert listed["test"] == ran["test"]
    assert main(["runs", "list"]) == 0
    table = capsys.readouterr().out
    assert "popularity" in table and f"{ran['test']['hr@10']:.4f}" in table

    # runs compare: a run that never ranks the target, on the same users, is lower beyond noise
    from core.eval.results import load_results, save_results
    from core.store import Store

    store = Store()
    rows = load_results(store, "popularity", "test").per_user
    store.start_run("blind", dataset="ml-100k", stage="baseline", config={})
    save_results(store, "blind", "test", [{**r, "rank": None} for r in rows], {"hr@10": 0.0}, len(rows))
    assert main(["runs", "compare", "popularity", "blind", "--json"]) == 0
    compared = json.loads(capsys.readouterr().out)
    diff = compared["metrics"]["hr@10"]["diff"]
    assert compared["users"] == 943 and diff["value"] == pytest.approx(ran["test"]["hr@10"])
    assert 0 < diff["low"] < diff["value"] < diff["high"] and not diff["spans_zero"]
    assert main(["runs", "compare", "popularity", "popularity", "--metrics", "ndcg@5"]) == 0
    assert "within noise" in capsys.readouterr().out
    assert main(["runs", "compare", "popularity", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_bad_options_are_one_line_errors(capsys):
    assert main(["baselines", "run", "--only", "sasrec", "--heads", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "heads" in err
    assert main(["baselines", "run", "--window", "0"]) == 2
    assert "--window" in capsys.readouterr().err


def test_runs_list_registers_shipped_checkpoints_with_every_split(capsys, tmp_path):
    """A clean clone's store is empty: `runs list` registers the shipped folders and shows their
    metrics on every split they were evaluated on (reasoning variants only have "test@200")."""
    from core.llm.adapter import save_checkpoint
    from core.llm.tiny import tiny_model
    from core.paths import checkpoints_dir
    from core.runs import card
    from core.sid.sidmap import SidMap

    model, tokenizer = tiny_model()
    sidmap = SidMap("ml-100k", "test", [2, 2, 2], {"1": (0, 0, 0), "2": (1, 1, 1)})
    folder = save_checkpoint(model, tokenizer, sidmap, checkpoints_dir() / "reason", {"base_model": "tiny"})
    card.write_run(folder, {"stage": "reason", "dataset": "ml-100k", "parent": "sft"})
    card.add_metrics(folder, "test@200", {"hr@10": 0.125, "think_closed_rate": 1.0}, users=200, seconds=9.0)
    assert main(["runs", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["name"], listed["stage"], listed["parent"], listed["status"]) == ("reason", "reason", "sft", "done")
    assert listed["test"] == {} and listed["metrics"] == {"test@200": {"hr@10": 0.125, "think_closed_rate": 1.0}}
    assert main(["runs", "list"]) == 0
    table = capsys.readouterr().out
    assert "test@200" in table and "0.1250" in table


def test_shipped_traces_give_paired_intervals_on_a_clean_clone(capsys):
    """Registering a shipped folder rebuilds its per-user results from its traces, so `runs compare`
    (and the Compare page) works on a store that never ran an evaluation."""
    from core.atomic import write_jsonl
    from core.eval.traces import TRACES_FILE
    from core.llm.adapter import save_checkpoint
    from core.llm.tiny import tiny_model
    from core.paths import checkpoints_dir
    from core.runs import card
    from core.sid.sidmap import SidMap

    model, tokenizer = tiny_model()
    sidmap = SidMap("ml-100k", "test", [2, 2, 2], {"1": (0, 0, 0), "2": (1, 1, 1)})
    ranks = {"a": [1, 3, None, 2, None, 12], "b": [None, 3, None, None, 5, None]}
    for run, run_ranks in ranks.items():
        folder = save_checkpoint(model, tokenizer, sidmap, checkpoints_dir() / run, {"base_model": "tiny"})
        card.write_run(folder, {"stage": "sft", "dataset": "ml-100k"})
        card.add_metrics(folder, "test@6", {"hr@10": 0.5}, users=6, seconds=1.0)  # `eval --users 6`
        write_jsonl(folder / TRACES_FILE, [
            {"id": f"{run}/test/{u}", "run": run, "split": "test", "user_id": str(u), "history": ["1"], "prompt": "p",
             "reasoning": "", "topk": [{"item_id": "2"}], "target": "1", "target_rank": r, "flags": {},
             "source": "eval", "created": "2026-12-02"} for u, r in enumerate(run_ranks)])
    assert main(["runs", "compare", "a", "b", "--metrics", "hr@10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["users"] == 6
    assert out["metrics"]["hr@10"]["diff"]["value"] == pytest.approx(3 / 6 - 2 / 6)  # ranks <= 10: 3 vs 2 users
    assert out["split_a"] == "test@6"  # the split the checkpoint was evaluated on holds its users
