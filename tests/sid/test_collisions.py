import numpy as np
import pytest

from core.sid.collisions import collision_rate, resolve

# items 0,1,2 share (0,0,1); items 3,4 share (1,2,0); item 5 is alone
CODES = np.array([[0, 0, 1], [0, 0, 1], [0, 0, 1], [1, 2, 0], [1, 2, 0], [1, 2, 3]])


def _distances():
    d = np.full((6, 4), 5.0)
    d[:, 1] = [0.3, 0.1, 0.2, 9, 9, 9]  # item 1 is the closest to code 1
    d[0, 2], d[2, 3] = 0.5, 0.6          # items 0 and 2 prefer different free codes
    d[3, 0], d[4, 0] = 0.4, 0.2          # item 4 keeps (1,2,0); item 3 must move to 1 or 2
    d[3, 1] = 1.0
    return d


def test_reassign_moves_only_extra_colliding_items_to_nearest_free_codes():
    resolved, report = resolve(CODES, "reassign", _distances(), codebook_size=4)
    assert len(np.unique(resolved, axis=0)) == 6
    assert np.array_equal(resolved[:, :2], CODES[:, :2])  # prefixes untouched
    assert resolved[1].tolist() == [0, 0, 1] and resolved[4].tolist() == [1, 2, 0]
    assert resolved[0, 2] == 2 and resolved[2, 2] == 3 and resolved[3, 2] == 1
    assert resolved[5].tolist() == [1, 2, 3]
    assert report["method"] == "reassign" and report["moved_items"] == 3 and report["colliding_items"] == 5
    assert report["collision_rate_before"] == pytest.approx(3 / 6) and report["collision_rate_after"] == 0


def test_full_prefix_falls_back_to_an_extra_level():
    codes = np.array([[0, 0], [0, 0], [0, 1], [1, 0]])  # prefix 0 has 3 items but only 2 last-level codes
    resolved, report = resolve(np.vstack([codes, [[0, 1]]]), "reassign", codebook_size=2)
    assert report["method"] == "extra_level" and report["requested_method"] == "reassign"
    assert resolved.shape == (5, 3) and len(np.unique(resolved, axis=0)) == 5


def test_extra_level_numbers_colliders_and_leaves_others_at_zero():
    resolved, report = resolve(CODES, "extra_level")
    assert resolved.shape == (6, 4)
    assert resolved[:, 3].tolist() == [0, 1, 2, 0, 1, 0]
    assert report["extra_level_size"] == 3 and report["collision_rate_after"] == 0


def test_no_collisions_changes_nothing():
    codes = np.array([[0, 1], [1, 0], [1, 1]])
    for method in ("reassign", "extra_level"):
        resolved, report = resolve(codes, method)
        assert np.array_equal(resolved, codes) and report["moved_items"] == 0
    assert collision_rate(codes) == 0
