"""Codebook questions on a small hand-made SID map whose answers are known."""
import pytest

from core.data.schema import Dataset, Item
from core.sid.explore import color_labels, items_per_code, items_under, prefix_sharing, sub_codes
from core.sid.sidmap import SidMap

CODES = {"1": (0, 0, 0), "2": (0, 0, 1), "3": (0, 1, 0), "4": (2, 0, 0)}


@pytest.fixture
def sidmap():
    return SidMap("toy", "test", [3, 2, 2], CODES)


def test_items_and_sub_codes_under_a_prefix(sidmap):
    assert items_under(sidmap, (0,)) == ["1", "2", "3"]
    assert items_under(sidmap, (0, 0)) == ["1", "2"]
    assert items_under(sidmap, ()) == ["1", "2", "3", "4"]
    assert sub_codes(sidmap, (0,)) == {0: 2, 1: 1}
    assert sub_codes(sidmap, (0, 0, 1)) == {}


def test_utilisation_and_prefix_sharing(sidmap):
    assert items_per_code(sidmap, 0) == [3, 0, 1]
    assert prefix_sharing(sidmap) == [{"level": 1, "prefixes": 2, "items sharing a prefix": 3},
                                      {"level": 2, "prefixes": 3, "items sharing a prefix": 2},
                                      {"level": 3, "prefixes": 4, "items sharing a prefix": 0}]


def test_colour_labels_follow_dataset_order(sidmap):
    items = {i: Item(i, f"t{i}", None, ("Drama",) if i != "3" else ()) for i in ["4", "1", "3", "2", "9"]}
    dataset = Dataset("toy", items, {}, {})
    assert color_labels(dataset, sidmap, "level 1 code") == ["<a_2>", "<a_0>", "<a_0>", "<a_0>", "(no SID)"]
    assert color_labels(dataset, sidmap, "level 2 code")[:3] == ["<b_0>", "<b_0>", "<b_1>"]
    assert color_labels(dataset, sidmap, "genre")[1:3] == ["Drama", "(none)"]
    with pytest.raises(ValueError):
        color_labels(dataset, sidmap, "level 9")
