import copy

import numpy as np
import pytest
import torch

from core.errors import SidLensError
from core.eval.ranking import SASRecConfig
from core.eval.sasrec import SASRec, run_sasrec


@pytest.fixture
def small_split(ml100k_slice):
    return ml100k_slice


def test_training_lowers_the_loss_and_moves_the_weights(store, small_split):
    model = SASRec(list(small_split.dataset.items), small_split.window, SASRecConfig(epochs=2, patience=5, threads=1))
    before = copy.deepcopy(model.net.state_dict())
    facts = model.fit(small_split, store, "s")
    losses = [r["value"] for r in store.rows("run_logs", "run = ? and key = 'loss'", ["s"], order_by="step")]
    assert len(losses) == 2 and losses[1] < losses[0] < np.log(len(small_split.dataset.items)) + 0.5
    assert facts["epochs"] == 2 and facts["best_epoch"] in (1, 2)
    moved = [name for name, w in model.net.state_dict().items() if not torch.equal(w, before[name])]
    assert "item_emb.weight" in moved and len(moved) > 10


def test_padding_is_masked_and_saved_weights_reload(tmp_path, small_split):
    model = SASRec(list(small_split.dataset.items), small_split.window, SASRecConfig(seed=1))
    histories = [small_split.example(u, "test").history[-3:] for u in list(small_split.sequences)[:4]]
    scores = model.score(histories)
    assert scores.shape == (4, len(small_split.dataset.items))
    with torch.no_grad():
        model.net.item_emb.weight[0].normal_()  # what padding "looks like" must not matter
    np.testing.assert_allclose(model.score(histories), scores, rtol=1e-5, atol=1e-5)
    again = SASRec.load(model.save(tmp_path / "m.pt"))
    np.testing.assert_allclose(again.score(histories), model.score(histories), rtol=1e-6)
    cands = [["1", "2", "3"], ["50", "1"], ["7"], ["9", "8"]]
    assert [len(c) for c in model.score_candidates(histories, cands)] == [3, 2, 1, 2]
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(SidLensError, match="cannot load SASRec"):
        SASRec.load(tmp_path / "bad.pt")


def test_run_sasrec_saves_weights_and_stores_the_run(store, small_split, isolated_data_dir):
    out = run_sasrec(store, small_split, SASRecConfig(epochs=1, threads=1))
    run = store.run("sasrec")
    assert run["status"] == "done" and run["checkpoint"] == str(isolated_data_dir / "runs" / "sasrec" / "model.pt")
    assert run["config"]["fit"]["epochs"] == 1 and store.metrics("sasrec", "test") == out["test"]
    assert SASRec.load(run["checkpoint"]).item_ids == list(small_split.dataset.items)


def test_bad_config_is_a_user_error():
    with pytest.raises(SidLensError, match="not divisible"):
        SASRecConfig(hidden=64, heads=3)
    with pytest.raises(SidLensError, match="epochs must be at least 1"):
        SASRecConfig(epochs=0)
