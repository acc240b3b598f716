"""Labels: saved at once to a real SQLite file, agreement, exports, and DPO preference pairs."""
from __future__ import annotations

import csv
import io
import json

import pytest

from core import labels as L
from core.errors import SidLensError
from core.store import Store

PROMPT = "<|im_start|>user\nhistory: <a_1><b_2><c_3>\nnext?<|im_end|>\n<|im_start|>assistant\n"


def _trace(store: Store, run: str, reasoning: str, sid: str, prompt: str = PROMPT) -> str:
    return L.send_to_queue(store, run=run, history=["1", "2"], prompt=prompt, reasoning=reasoning,
                           topk=[{"item_id": "9", "sid": sid, "score": -1.0}], flags={})


def test_label_is_committed_and_visible_to_another_connection(tmp_path):
    path = tmp_path / "labels.db"
    first, second = Store(path), Store(path)
    tid = _trace(first, "sft", "<think>likes drama</think>", "<a_1><b_1><c_1>")
    L.save_label(first, tid, "ann", 4, {"faithful": True}, "ok")
    L.save_label(second, tid, "bob", 2, {"hallucinated": True})
    fresh = Store(path)  # a new process would see exactly this
    rows = {r["annotator"]: r for r in L.labels(fresh)}
    assert rows["ann"]["quality"] == 4 and rows["ann"]["flags"]["faithful"] is True
    assert rows["ann"]["flags"]["hallucinated"] is False and rows["ann"]["note"] == "ok"
    assert rows["bob"]["flags"]["hallucinated"] is True
    L.save_label(second, tid, "ann", 5, {})  # relabeling replaces, never duplicates
    assert [r["quality"] for r in L.labels(fresh, "ann")] == [5]


@pytest.mark.parametrize("kwargs, message", [
    ({"annotator": " ", "quality": 3}, "annotator"),
    ({"annotator": "a", "quality": 7}, "quality"),
    ({"annotator": "a", "quality": 3, "flags": {"nonsense": True}}, "nonsense"),
    ({"annotator": "a", "quality": 3, "trace": "missing"}, "unknown trace"),
])
def test_bad_labels_are_user_errors(store, kwargs, message):
    tid = _trace(store, "sft", "x", "<a_1><b_1><c_1>")
    with pytest.raises(SidLensError, match=message):
        L.save_label(store, kwargs.get("trace", tid), kwargs["annotator"], kwargs["quality"], kwargs.get("flags", {}))


def test_queue_puts_app_traces_first_and_filters_runs(store):
    store.upsert("traces", [{"id": "t1", "run": "sft", "prompt": "p", "reasoning": "r", "source": "eval",
                             "created": "2024-01-01"},
                            {"id": "t2", "run": "grpo", "prompt": "p", "reasoning": "r", "source": "eval",
                             "created": "2024-01-02"}])
    app = _trace(store, "dpo", "mine", "<a_1><b_1><c_1>")
    assert [t["id"] for t in L.queue(store)] == [app, "t2", "t1"]
    assert [t["id"] for t in L.queue(store, ["sft", "dpo"])] == [app, "t1"]
    assert L.queue(store, []) == [] and L.trace_runs(store) == ["dpo", "grpo", "sft"]
    store.upsert("traces", {"id": "t3", "run": "sft", "prompt": "p", "reasoning": " ", "source": "eval",
                            "created": "2024-01-03"})
    assert "t3" not in [t["id"] for t in L.queue(store)]  # nothing to judge as reasoning
    assert [t["id"] for t in L.queue(store, with_direct=True)] == [app, "t3", "t2", "t1"]


def test_kappa_and_exports(store):
    ids = [_trace(store, "sft", f"r{i}", "<a_1><b_1><c_1>") for i in range(4)]
    for tid, qa, qb in zip(ids, [1, 2, 4, 5], [1, 2, 5, 5]):
        L.save_label(store, tid, "ann", qa, {"useful": qa > 3})
        L.save_label(store, tid, "bob", qb, {"useful": qb > 3})
    k = L.kappa(store, "ann", "bob")
    assert k["traces"] == 4 and k["agreement"] == 0.75
    assert 0 < k["quality"] < 1 and k["quality_weighted"] > k["quality"]
    assert k["useful"] == 1.0 and k["faithful"] is None  # nobody ever ticked "faithful"
    with pytest.raises(SidLensError, match="no trace in common"):
        L.kappa(store, "ann", "nobody")
    rows = L.labels(store)
    assert [json.loads(line)["trace_id"] for line in L.export_jsonl(rows).splitlines()] == [r["trace_id"] for r in rows]
    table = list(csv.DictReader(io.StringIO(L.export_csv(rows))))
    assert len(table) == 8 and {r["useful"] for r in table} == {"0", "1"}


def test_preference_pairs_round_trip(store, tmp_path):
    good = _trace(store, "grpo", "<think>drama fan</think>", "<a_1><b_2><c_3>")
    bad = _trace(store, "sft", "<think>random</think>", "<a_4><b_5><c_6>")
    other = _trace(store, "sft", "<think>alone</think>", "<a_4><b_5><c_6>", prompt="another prompt")
    L.save_label(store, good, "ann", 5, {})
    L.save_label(store, good, "bob", 4, {})
    L.save_label(store, bad, "ann", 2, {})
    L.save_label(store, other, "ann", 1, {})
    assert L.pairable_labels(store) == 3  # good's two labels and bad's one; other's prompt has no partner
    pairs = L.preference_pairs(store)
    assert pairs == [{"prompt": PROMPT, "chosen": "<think>drama fan</think><a_1><b_2><c_3>",
                      "rejected": "<think>random</think><a_4><b_5><c_6>", "chosen_trace": good,
                      "rejected_trace": bad, "margin": 2.5}]
    path = tmp_path / "pairs.jsonl"
    path.write_text(L.export_jsonl(pairs))
    assert L.load_pairs(path) == pairs
    path.write_text('{"prompt": "p", "chosen": ""}\n')
    with pytest.raises(SidLensError, match="line 1"):
        L.load_pairs(path)


def test_a_sent_group_shares_one_prompt_and_its_labels_become_pairs(store):
    from core.sid.sidmap import SidMap

    sidmap = SidMap("toy", "hand", [8, 8, 8], {"9": (1, 2, 3), "7": (4, 5, 6)})
    completions = ["<think>drama</think><a_1><b_2><c_3>", "<think>noise</think><a_4><b_5><c_6>", "<think>cut"]
    ids = L.send_group(store, run="grpo", history=["1", "2"], prompt=PROMPT, completions=completions,
                       answers=["9", "7", None], flags=[{}, {}, {}], sidmap=sidmap)
    assert len(ids) == 3 and {store.get("traces", i)["prompt"] for i in ids} == {PROMPT}
    assert store.get("traces", ids[2])["topk"] == []  # it named no item
    for tid, quality in zip(ids, (5, 2, 1)):
        L.save_label(store, tid, "ann", quality, {})
    pairs = L.preference_pairs(store)
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [(completions[0], completions[1]),
                                                             (completions[0], completions[2]),
                                                             (completions[1], completions[2])]
    with pytest.raises(SidLensError, match="one answer and one set of flags"):
        L.send_group(store, run="grpo", history=["1"], prompt=PROMPT, completions=["a"], answers=[], flags=[])
