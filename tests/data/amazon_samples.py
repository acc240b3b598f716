"""Small Amazon review and metadata files in both formats, written by the tests themselves."""
from __future__ import annotations

import calendar
import gzip
import json


def at(year: int, month: int = 1, day: int = 1, second: int = 0) -> int:
    """Seconds since the epoch (UTC) of a date."""
    return calendar.timegm((year, month, day, 0, 0, 0)) + second


# (user, item, timestamp, rating) in file order. With k_core=2: N has no title and M no metadata, so
# u4 and u5 fall under 2 reviews; that leaves D with one review (u3), so D goes, then u3 goes.
# u1 reviews A twice (the repeat is later); u2's B and C tie (file order B, C).
REVIEWS = [
    ("u1", "A", at(2016, 1, 1, 100), 5.0), ("u1", "B", at(2016, 1, 1, 200), 4.0),
    ("u1", "C", at(2016, 1, 1, 150), 3.0), ("u2", "A", at(2016, 1, 1, 300), 2.0),
    ("u2", "B", at(2016, 1, 1, 100), 1.0), ("u2", "C", at(2016, 1, 1, 100), 5.0),
    ("u3", "A", at(2016, 1, 1, 50), 4.0), ("u3", "D", at(2016, 1, 1, 60), 4.0),
    ("u4", "D", at(2016, 1, 1, 70), 3.0), ("u4", "N", at(2016, 1, 1, 80), 3.0),
    ("u5", "A", at(2016, 1, 1, 90), 3.0), ("u5", "M", at(2016, 1, 1, 95), 3.0),
    ("u1", "A", at(2016, 1, 1, 400), 1.0),
]
META = [  # (item, title or None, categories)
    ("A", "Digital Caliper &amp; Gauge", ["Industrial & Scientific", "Test, Measure & Inspect"]),
    ("B", ' "Safety Goggles" ', ["Industrial & Scientific"]),
    ("C", "Lab Beaker Set", []),
    ("D", "Soldering Iron", ["Industrial & Scientific"]),
    ("N", None, ["Industrial & Scientific"]),
    ("H", '<span id="x">junk</span>', []),
    ("L", " ".join(["word"] * 21), []),
    ("A", "A later duplicate line of A's metadata", []),
]


def write_amazon(folder, fmt: str = "2018", reviews=REVIEWS, meta=META, gz: bool = False):
    """Write reviews and metadata JSON lines in the given format; returns (reviews path, meta path)."""
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "2018":
        review_rows = [{"reviewerID": u, "asin": i, "overall": r, "unixReviewTime": t, "reviewText": "ok"}
                       for u, i, t, r in reviews]
        meta_rows = [{"asin": i, **({"title": title} if title is not None else {}), "category": cats, "brand": "X"}
                     for i, title, cats in meta]
    else:
        review_rows = [{"user_id": u, "parent_asin": i, "asin": i + "-v", "rating": r, "timestamp": t * 1000 + 999,
                        "text": "ok"} for u, i, t, r in reviews]
        meta_rows = [{"parent_asin": i, "title": title or "", "categories": cats, "main_category": "Industrial"}
                     for i, title, cats in meta]
    suffix = ".jsonl.gz" if gz else ".jsonl"
    paths = folder / f"reviews{suffix}", folder / f"meta{suffix}"
    for path, rows in zip(paths, (review_rows, meta_rows)):
        text = "".join(json.dumps(row) + "\n" for row in rows)
        if gz:
            with gzip.open(path, "wt", encoding="utf-8") as fh:
                fh.write(text)
        else:
            path.write_text(text, encoding="utf-8")
    return paths
