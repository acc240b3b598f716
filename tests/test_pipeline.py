"""The quick pipeline lists only what is still to do."""
from __future__ import annotations

from core.data.registry import prepare_dataset
from core.pipeline import quick_steps


def _labels(steps):
    return [label for label, _ in steps]


def test_fresh_data_dir_needs_everything():
    assert _labels(quick_steps("ml-100k")) == ["Prepare ml-100k", "Embed the items and build their SIDs"]
    labels = _labels(quick_steps("ml-100k", train=True))
    assert labels[2] == "Write the alignment corpus" and labels[3].startswith("Train SFT, quick preset")


def test_done_steps_are_left_out(ml100k_sids_dir, monkeypatch):
    monkeypatch.setenv("SIDLENS_DATA_DIR", str(ml100k_sids_dir))
    assert quick_steps("ml-100k") == []
    assert _labels(quick_steps("ml-100k", train=True))[0] == "Write the alignment corpus"


def test_running_the_first_step_removes_it(isolated_data_dir):
    steps = quick_steps("ml-100k")
    steps[0][1]()
    assert _labels(quick_steps("ml-100k")) == ["Embed the items and build their SIDs"]
    prepare_dataset("ml-100k")  # re-running a done step is harmless
