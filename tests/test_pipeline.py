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


def test_sid_step_installs_the_shipped_map(isolated_data_dir, monkeypatch):
    """On a data dir without a SID map the app's step yields the shipped map, as the CLI does: the
    shipped checkpoints (trained on it) stay usable."""
    import core.sid.build
    from core.paths import REPO_ROOT
    from core.sid.build import load_sidmap
    from core.sid.sidmap import SidMap

    monkeypatch.setattr(core.sid.build, "SHIPPED_DIR", REPO_ROOT / "data" / "sidmaps")
    prepare_dataset("ml-100k")
    (label, run), = quick_steps("ml-100k")
    assert label.startswith("Install the shipped SID map")
    run()
    assert load_sidmap("ml-100k").hash == SidMap.load(REPO_ROOT / "data" / "sidmaps" / "ml-100k.json").hash
    assert quick_steps("ml-100k") == []


def test_loaders_record_in_the_store_they_are_given(isolated_data_dir, monkeypatch, tmp_path):
    """A loader that has to write (prepare ml-100k, install the shipped map) writes to the caller's
    store, not to a default one it opens itself."""
    import core.sid.build
    from core.data.registry import load_dataset
    from core.paths import REPO_ROOT, db_path
    from core.sid.build import load_sidmap
    from core.store import Store

    monkeypatch.setattr(core.sid.build, "SHIPPED_DIR", REPO_ROOT / "data" / "sidmaps")
    store = Store(tmp_path / "elsewhere.db")
    dataset = load_dataset("ml-100k", store)
    sidmap = load_sidmap("ml-100k", store)
    assert store.get("datasets", "ml-100k")["items"] == len(dataset.items)
    assert len(store.rows("sids", "dataset = 'ml-100k'")) == len(sidmap.codes)
    assert not db_path().exists()  # the default database was never opened
