import json

import numpy as np
import pytest

from core.data.schema import Dataset, Item
from core.errors import SidLensError
from core.sid.build import build_sids, default_codebook_size, load_sidmap, sidmap_path
from core.store import Store

GENRES = ["Comedy", "Drama", "Horror", "Western", "Musical", "Documentary"]
WORDS = ["Night", "River", "Love", "War", "Dream", "City", "Ghost", "Summer"]


def _dataset(n=48):
    items = [Item(str(i + 1), f"The {WORDS[i % 8]} of {WORDS[(i // 8) % 8]}", 1950 + i, (GENRES[i % 6],))
             for i in range(n)]
    return Dataset("toy", {x.item_id: x for x in items}, {}, {})


def _build(dataset, store, **kw):
    kw = {"method": "rqkmeans", "codebook_size": 4, "options": {"n_init": 1}, **kw}
    return build_sids("toy", dataset=dataset, store=store, **kw)


def test_build_saves_unique_sids_and_records_them(store):
    sidmap = _build(_dataset(), store)
    assert len(set(sidmap.codes.values())) == 48 == len(sidmap.codes)
    stats = sidmap.stats
    assert stats["collision_rate_before"] > 0 and stats["collision_rate_after"] == 0  # 4^3 codes for 48 items
    assert stats["unique_sids"] == 48 and [lv["codes"] for lv in stats["levels"]][:3] == [4, 4, 4]
    assert load_sidmap("toy").hash == sidmap.hash
    assert json.loads(sidmap_path("toy").read_text())["codes"]["1"] == list(sidmap.sid("1"))
    rows = store.rows("sids", "dataset = ?", ["toy"])
    assert len(rows) == 48 and {r["sid"] for r in rows} == {sidmap.sid_text(i) for i in sidmap.codes}
    assert store.get("sid_maps", "toy")["hash"] == sidmap.hash


def test_rebuilding_is_deterministic_upserts_and_drops_removed_items(store):
    first = _build(_dataset(), store)
    assert _build(_dataset(), store).hash == first.hash
    assert len(store.rows("sids", "dataset = ?", ["toy"])) == 48
    smaller = _build(_dataset(40), store)
    assert {r["item_id"] for r in store.rows("sids", "dataset = ?", ["toy"])} == set(smaller.codes)


def test_rqvae_build_with_extra_level(store):
    sidmap = _build(_dataset(), store, method="rqvae", collisions="extra_level", levels=2,
                    options={"epochs": 15, "batch_size": 16, "hidden_dims": (32,), "latent_dim": 8})
    codes = np.array(list(sidmap.codes.values()))
    assert len(np.unique(codes, axis=0)) == 48
    assert sidmap.levels == 3 and sidmap.stats["collisions"]["method"] == "extra_level"
    assert sidmap.codebook_sizes[-1] == codes[:, -1].max() + 1
    assert sidmap.stats["tokenizer"]["final_loss"]["recon"] < 2


@pytest.mark.parametrize("kw, problem", [
    ({"method": "lsh"}, "unknown SID method"),
    ({"codebook_size": 100}, "codebook size must be between 2 and the 48 items"),
    ({"levels": 0}, "levels must be between"),
    ({"collisions": "ignore"}, "unknown collision method"),
    ({"options": {"epochz": 3}}, "unknown rqkmeans option"),
])
def test_bad_requests_are_one_line_errors(store, kw, problem):
    with pytest.raises(SidLensError, match=problem):
        _build(_dataset(), store, **kw)


def test_missing_map_is_a_clear_error():
    with pytest.raises(SidLensError, match="no SIDs built for dataset 'nothing'"):
        load_sidmap("nothing")


def test_store_default_is_the_data_dir_database():
    _build(_dataset(), None)
    assert len(Store().rows("sids", "dataset = ?", ["toy"])) == 48


@pytest.mark.parametrize("items, size", [(1682, 32), (12_000, 128), (48, 8), (5, 5), (10**7, 256)])
def test_default_codebook_size_follows_the_catalogue(items, size):
    assert default_codebook_size(items) == size


def test_default_codebook_size_is_used(store):
    assert _build(_dataset(), store, codebook_size=None).codebook_sizes == [8, 8, 8]
