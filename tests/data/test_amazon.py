"""Amazon loaders on small review files the tests write: filtering, ordering, counts and errors."""
from __future__ import annotations

import re

import pytest

from core.data.amazon import AmazonConfig, clean_title, k_core, load_amazon
from core.errors import SidLensError
from tests.data.amazon_samples import at, write_amazon


def _sequences(dataset):
    return {u: [(x.item_id, x.timestamp, x.rating) for x in seq] for u, seq in dataset.sequences.items()}


@pytest.mark.parametrize("fmt,gz", [("2018", False), ("2023", True)])
def test_filters_title_kcore_and_orders_by_time(tmp_path, fmt, gz):
    reviews, meta = write_amazon(tmp_path, fmt, gz=gz)
    dataset = load_amazon("amazon-test", AmazonConfig(reviews, meta, format=fmt, k_core=2))
    # Iterative k-core: dropping N and M removes u4 and u5, then D, then u3.
    assert dataset.stats() == {"users": 2, "items": 3, "interactions": 6}
    t0 = at(2016)
    assert _sequences(dataset) == {
        "u1": [("A", t0 + 100, 5.0), ("C", t0 + 150, 3.0), ("B", t0 + 200, 4.0)],
        "u2": [("B", t0 + 100, 1.0), ("C", t0 + 100, 5.0), ("A", t0 + 300, 2.0)],  # tie: file order
    }
    assert dataset.meta["skipped"] == {"items_without_title": 2, "items_with_long_title": 1,
                                       "reviewed_items_without_usable_title": 2, "reviews_outside_window": 0,
                                       "repeated_reviews": 1}
    assert dataset.items["A"].title == "Digital Caliper & Gauge"  # first metadata line wins, entities unescaped
    assert dataset.items["B"].title == "Safety Goggles"
    expected_c = ("Industrial",) if fmt == "2023" else ()  # 2023: main_category when categories are empty
    assert dataset.items["C"].genres == expected_c
    assert dataset.items["A"].genres == ("Industrial & Scientific", "Test, Measure & Inspect")


def test_keep_repeats_keeps_every_review(tmp_path):
    reviews, meta = write_amazon(tmp_path)
    dataset = load_amazon("amazon-test", AmazonConfig(reviews, meta, k_core=2, dedupe=False))
    assert [x.item_id for x in dataset.sequences["u1"]] == ["A", "C", "B", "A"]
    assert "repeated_reviews" not in dataset.meta["skipped"]


def test_time_window_bounds_are_inclusive_whole_months(tmp_path):
    rows = [("u1", "A", at(2015, 12, 31, 86399), 1.0), ("u1", "B", at(2016, 1, 1), 1.0),
            ("u1", "C", at(2017, 6, 30, 86399), 1.0), ("u1", "D", at(2017, 7, 1), 1.0)]
    reviews, meta = write_amazon(tmp_path, reviews=rows)
    cfg = AmazonConfig(reviews, meta, start_year=2016, end_year=2017, end_month=6, k_core=1)
    dataset = load_amazon("amazon-test", cfg)
    assert [x.item_id for x in dataset.sequences["u1"]] == ["B", "C"]
    assert dataset.meta["skipped"]["reviews_outside_window"] == 2


def test_k_core_repeats_until_stable():
    rows = [("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "b"), ("u3", "a"), ("u3", "c"), ("u4", "c")]
    kept = k_core(rows, 2)
    # c has two reviews but u4 has one: u4 goes, then c (one review left), then u3 (one left).
    assert kept == rows[:4]


def test_clean_title():
    assert clean_title(' "Tom &amp; Jerry"\n  Box ') == 'Tom & Jerry" Box'
    assert clean_title('<span id="a">x</span>') == ""
    assert clean_title(None) == ""


def test_empty_after_filtering_is_an_error(tmp_path):
    reviews, meta = write_amazon(tmp_path)
    with pytest.raises(SidLensError, match="amazon-test is empty after filtering"):
        load_amazon("amazon-test", AmazonConfig(reviews, meta, k_core=10))


@pytest.mark.parametrize("bad_line,message", [
    ("{not json", "not JSON"),
    ('{"reviewerID": "u9", "asin": "A", "overall": 5.0}', "missing field 'unixReviewTime'"),
    ('{"reviewerID": "u9", "asin": "A", "overall": "five", "unixReviewTime": 1}', "could not convert"),
    ("[1, 2]", "expected a JSON object"),
])
def test_malformed_review_names_file_and_line(tmp_path, bad_line, message):
    reviews, meta = write_amazon(tmp_path)
    lines = reviews.read_text().splitlines()
    lines.insert(2, bad_line)
    reviews.write_text("\n".join(lines) + "\n")
    with pytest.raises(SidLensError, match=f"malformed row in {re.escape(str(reviews))} line 3: .*{message}"):
        load_amazon("amazon-test", AmazonConfig(reviews, meta, k_core=2))


def test_metadata_without_item_id_is_malformed(tmp_path):
    reviews, meta = write_amazon(tmp_path)
    meta.write_text(meta.read_text() + '{"title": "no asin"}\n')
    with pytest.raises(SidLensError, match=f"{re.escape(str(meta))} line 9: missing field 'asin'"):
        load_amazon("amazon-test", AmazonConfig(reviews, meta))


def test_missing_file_and_bad_options(tmp_path):
    reviews, meta = write_amazon(tmp_path)
    with pytest.raises(SidLensError, match="reviews file not found: .*nope.jsonl"):
        load_amazon("amazon-test", AmazonConfig(tmp_path / "nope.jsonl", meta))
    with pytest.raises(SidLensError, match="unknown Amazon format '2020'"):
        AmazonConfig(reviews, meta, format="2020")
    with pytest.raises(SidLensError, match="month 13"):
        AmazonConfig(reviews, meta, end_month=13)
    with pytest.raises(SidLensError, match="starts .* after it ends"):
        AmazonConfig(reviews, meta, start_year=2018, end_year=2017)
