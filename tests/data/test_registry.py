"""Prepared datasets: prepare once, reload the prepared copy identically, record in the store, clear errors."""
from __future__ import annotations

import pytest

from core.data.registry import load_dataset, prepare_dataset
from core.errors import SidLensError
from core.paths import data_dir, dataset_dir
from core.store import Store
from tests.data.amazon_samples import write_amazon


def test_ml100k_prepares_on_first_load_and_reloads_from_the_prepared_copy(ml100k, monkeypatch):
    first = load_dataset("ml-100k")
    assert (dataset_dir("ml-100k") / "prepared" / "dataset.json").exists()

    def no_reparse():
        raise AssertionError("a second load must read the prepared copy, not parse the raw files again")

    monkeypatch.setattr("core.data.movielens.load_ml100k", no_reparse)
    again = load_dataset("ml-100k")
    for loaded in (first, again):
        assert (loaded.items, loaded.users, loaded.sequences) == (ml100k.items, ml100k.users, ml100k.sequences)
    row = Store().get("datasets", "ml-100k")
    assert (row["users"], row["items"], row["interactions"]) == (943, 1682, 100000)


def test_preparing_twice_upserts(ml100k):
    prepare_dataset("ml-100k")
    prepare_dataset("ml-100k")
    store = Store()
    assert store.db["datasets"].count == 1
    assert store.db["items"].count == 1682
    toy = store.get("items", ["ml-100k", "1"])
    assert (toy["title"], toy["year"], toy["genres"]) == ("Toy Story", 1995, ["Animation", "Children's", "Comedy"])


def test_amazon_round_trip_and_reprepare_replaces_items(tmp_path):
    reviews, meta = write_amazon(tmp_path / "raw")
    prepared = prepare_dataset("amazon-tools", reviews=reviews, meta=meta, k_core=2)
    loaded = load_dataset("amazon-tools")
    assert (loaded.items, loaded.users, loaded.sequences, loaded.meta) == \
           (prepared.items, prepared.users, prepared.sequences, prepared.meta)
    assert loaded.meta["skipped"]["items_without_title"] == 2
    assert Store().db["items"].count == 3
    prepare_dataset("amazon-tools", reviews=reviews, meta=meta, k_core=1)  # keeps D now
    assert load_dataset("amazon-tools").stats()["items"] == Store().db["items"].count == 4


def test_unknown_dataset_lists_known_ones():
    with pytest.raises(SidLensError, match=r"unknown dataset 'movies' \(known: ml-100k, amazon-<category>"):
        load_dataset("movies")
    assert not (data_dir() / "datasets" / "movies").exists()


def test_amazon_needs_files_and_preparation(tmp_path):
    with pytest.raises(SidLensError, match="not prepared yet: run python -m core data prepare"):
        load_dataset("amazon-books")
    with pytest.raises(SidLensError, match="needs the reviews and metadata files"):
        prepare_dataset("amazon-books")
    with pytest.raises(SidLensError, match="unknown option"):
        prepare_dataset("amazon-books", reviews="r", meta="m", kcore=3)
    with pytest.raises(SidLensError, match="takes no options"):
        prepare_dataset("ml-100k", k_core=3)


def test_damaged_prepared_files_are_reported(tmp_path):
    reviews, meta = write_amazon(tmp_path / "raw")
    prepare_dataset("amazon-tools", reviews=reviews, meta=meta, k_core=2)
    (dataset_dir("amazon-tools") / "prepared" / "sequences.jsonl").write_text('{"user_id": "u1", "ite')
    with pytest.raises(SidLensError, match="unreadable .* run python -m core data prepare again"):
        load_dataset("amazon-tools")
