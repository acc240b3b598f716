import pytest

from core.errors import SidLensError
from core.eval.results import load_results, save_results, user_result


def test_save_and_load_round_trip_and_rerun_replaces_users(store):
    store.start_run("r", dataset="d", stage="eval", config={})
    rows = [user_result("1", "a", [str(i) for i in range(15)], 12), user_result("2", "b", ["b", "c"], None)]
    assert len(rows[0]["topk"]) == 10
    save_results(store, "r", "test", rows, {"hr@10": 0.0, "ndcg@10": 0.0}, users=2)
    res = load_results(store, "r", "test")
    assert res.users == 2 and res.metrics == {"hr@10": 0.0, "ndcg@10": 0.0}
    assert [(r["user_id"], r["target"], r["rank"], r["topk"]) for r in res.per_user] == \
        [("1", "a", 12, [str(i) for i in range(10)]), ("2", "b", None, ["b", "c"])]
    save_results(store, "r", "test", rows[1:], {"hr@10": 1.0}, users=1)
    res = load_results(store, "r", "test")
    assert [r["user_id"] for r in res.per_user] == ["2"] and res.metrics["hr@10"] == 1.0


def test_unknown_run_and_missing_split_are_user_errors(store):
    with pytest.raises(SidLensError, match="unknown run"):
        save_results(store, "nope", "test", [], {}, users=0)
    store.start_run("r", dataset="d", stage="eval", config={})
    with pytest.raises(SidLensError, match="no results on the valid split"):
        load_results(store, "r", "valid")
