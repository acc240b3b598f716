"""Dataset summary on the real MovieLens-100k."""
from core.data.registry import load_dataset
from core.summary import dataset_summary


def test_ml100k_summary():
    s = dataset_summary(load_dataset("ml-100k"))
    assert (s["users"], s["items"], s["interactions"], s["test_users"]) == (943, 1682, 100000, 943)
    assert abs(s["density"] - 100000 / (943 * 1682)) < 1e-12
    assert s["history_length"]["min"] == 20 and s["history_length"]["max"] > 500
    assert max(s["genres"], key=s["genres"].get) == "Drama" and sum(s["years"].values()) == 1681
