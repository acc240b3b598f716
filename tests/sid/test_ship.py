"""Shipped SID maps: a clean clone installs the committed map instead of rebuilding it."""
import json

import pytest

import core.sid.build as build
from core.cli import main
from core.data.registry import load_dataset
from core.sid.sidmap import SidMap
from core.store import Store


@pytest.fixture
def toy_map(tmp_path):
    return SidMap("ml-100k", "rqvae", [4, 4, 4], {"1": (0, 1, 2), "2": (0, 1, 3), "50": (3, 0, 0)})


def test_ship_then_fresh_data_dir_installs_the_same_map(toy_map, tmp_path, monkeypatch, capsys):
    toy_map.save(build.sidmap_path("ml-100k"))
    assert main(["sids", "ship", "--dataset", "ml-100k"]) == 0
    shipped = json.loads(build.shipped_path("ml-100k").read_text())
    assert shipped["codes"]["50"] == [3, 0, 0]

    monkeypatch.setenv("SIDLENS_DATA_DIR", str(tmp_path / "fresh"))  # a clean clone: nothing built
    assert not build.sidmap_path("ml-100k").exists()
    loaded = build.load_sidmap("ml-100k")
    assert loaded.hash == toy_map.hash and build.sidmap_path("ml-100k").exists()
    assert {r["item_id"] for r in Store().rows("sids", "dataset = ?", ["ml-100k"])} == {"1", "2", "50"}


def test_build_if_missing_keeps_the_shipped_map(toy_map, tmp_path, capsys):
    build.SHIPPED_DIR.mkdir(parents=True)
    toy_map.save(build.shipped_path("ml-100k"))
    load_dataset("ml-100k")  # prepared, but no SIDs built
    assert main(["sids", "build", "--dataset", "ml-100k", "--if-missing", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hash"] == toy_map.hash


def test_ship_without_a_map_is_a_one_line_error(capsys):
    assert main(["sids", "ship", "--dataset", "ml-100k"]) == 2
    assert capsys.readouterr().err.startswith("error: no SIDs built for dataset 'ml-100k'")
