import math

import numpy as np
import pytest

from core.sid.sidmap import SidMap
from core.sid.stats import codebook_stats

CODES = np.array([[0, 1], [0, 1], [0, 0], [3, 1]])  # level a uses codes 0 and 3 of 4; one SID shared


def test_hand_built_counts_and_perplexity():
    stats = codebook_stats(CODES, [4, 2], reconstruction_error=0.25)
    a, b = stats["levels"]
    assert (stats["items"], stats["unique_sids"]) == (4, 3)
    assert stats["collision_rate"] == pytest.approx(0.25) and stats["reconstruction_error"] == 0.25
    assert (a["codes"], a["used"], a["utilisation"]) == (4, 2, 0.5)
    assert a["perplexity"] == pytest.approx(math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25))))
    assert a["items_per_code"] == {"min": 1, "mean": 2.0, "max": 3}
    assert (b["used"], b["prefixes"], a["prefixes"]) == (2, 3, 2)


def test_perplexity_bounded_by_used_codes_on_random_maps():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 16, size=(300, 3)) // rng.integers(1, 4, size=(1, 3))
    for level in codebook_stats(codes, [16, 16, 16])["levels"]:
        assert 1 <= level["perplexity"] <= level["used"] + 1e-9 <= level["codes"] + 1e-9


def test_sidmap_source_matches_codes_source():
    sidmap = SidMap("toy", "test", [4, 2], {str(i): tuple(c) for i, c in enumerate(CODES.tolist())})
    assert codebook_stats(sidmap) == codebook_stats(CODES, [4, 2])
    with pytest.raises(ValueError):
        codebook_stats(CODES, [4])
