"""Amazon reviews datasets, for users who have the files (nothing is downloaded).

Two formats, both JSON lines, plain or gzipped:
- "2018" (McAuley lab, 2018 release; what SIDReasoner and MiniOneRec use): a 5-core reviews file
  with reviewerID, asin, overall, unixReviewTime (seconds), and a metadata file with asin, title,
  category (list) or the 2014 `categories` (list of lists), brand, ...
- "2023" (Amazon Reviews 2023): reviews with user_id, parent_asin, rating, timestamp (milliseconds),
  and metadata with parent_asin, title, categories, main_category, ...

Filtering follows MiniOneRec's `amazon18_data_process.py`, in its order:
1. items need a usable title: present, not HTML debris ("<span id"), longer than one character
   and at most `max_title_words` words (HTML entities unescaped, spaces and quotes stripped).
   Items without one are skipped and counted (items absent from the metadata count too);
2. reviews outside the time window [first day of start_year/start_month, last second of
   end_year/end_month] are dropped;
3. k-core filtering, repeated until stable: users and items with fewer than `k_core` reviews go.
Differences from MiniOneRec, on purpose: the window is in UTC (theirs is the machine's local
time) and inclusive of the whole end month (their end bound is the first second of the end month,
so their 1996-10..2018-11 is our --end-month 10); we never widen the window by ourselves (they
move the start year back until 3,000 items remain); repeated (user, item) reviews keep only the
earliest (as the Amazon 2023 benchmark scripts do; `dedupe=False` keeps them all like MiniOneRec).
Sequences are ordered by timestamp, ties kept in file order; timestamps are stored in seconds.
"""
from __future__ import annotations

import calendar
import gzip
import html
import json
import re
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from core.data.schema import Dataset, Interaction, Item, User
from core.errors import SidLensError

FORMATS = {  # format -> (user field, item field, rating field, time field, time units per second)
    "2018": ("reviewerID", "asin", "overall", "unixReviewTime", 1),
    "2023": ("user_id", "parent_asin", "rating", "timestamp", 1000),
}
META_ITEM_FIELD = {"2018": "asin", "2023": "parent_asin"}


@dataclass
class AmazonConfig:
    """Where the files are and how to filter them (defaults follow MiniOneRec)."""

    reviews: Path = field(metadata={"help": "reviews JSON lines file (.json, .jsonl, optionally .gz)"})
    meta: Path = field(metadata={"help": "item metadata JSON lines file of the same category"})
    format: str = field(default="2018", metadata={"help": "'2018' (reviewerID/asin) or '2023' (user_id/parent_asin)"})
    start_year: int | None = field(default=None, metadata={"help": "drop reviews before this year (UTC); none: no lower bound"})
    start_month: int = field(default=1, metadata={"help": "month of start_year the window opens"})
    end_year: int | None = field(default=None, metadata={"help": "drop reviews after this year (UTC); none: no upper bound"})
    end_month: int = field(default=12, metadata={"help": "last month of end_year inside the window"})
    k_core: int = field(default=5, metadata={"help": "users and items keep at least this many reviews (iterated)"})
    max_title_words: int = field(default=20, metadata={"help": "items with longer titles are skipped (0: no limit)"})
    dedupe: bool = field(default=True, metadata={"help": "keep only the earliest review of a repeated (user, item)"})

    def __post_init__(self):
        self.reviews, self.meta = Path(self.reviews), Path(self.meta)
        if self.format not in FORMATS:
            raise SidLensError(f"unknown Amazon format {self.format!r} (known: {', '.join(FORMATS)})")
        for month in (self.start_month, self.end_month):
            if not 1 <= month <= 12:
                raise SidLensError(f"month {month} is not between 1 and 12")
        if self.start_year is not None and self.end_year is not None and \
                (self.start_year, self.start_month) > (self.end_year, self.end_month):
            raise SidLensError(f"the time window starts ({self.start_year}-{self.start_month:02d}) "
                               f"after it ends ({self.end_year}-{self.end_month:02d})")
        if self.k_core < 0 or self.max_title_words < 0:
            raise SidLensError("k_core and max_title_words must be >= 0")

    @classmethod
    def option_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def window(self) -> tuple[float, float]:
        """The time window in seconds since the epoch, both ends inclusive."""
        start = calendar.timegm((self.start_year, self.start_month, 1, 0, 0, 0)) if self.start_year else float("-inf")
        if self.end_year is None:
            return start, float("inf")
        last_day = calendar.monthrange(self.end_year, self.end_month)[1]
        return start, calendar.timegm((self.end_year, self.end_month, last_day, 23, 59, 59))


def read_jsonl(path: Path, desc: str) -> Iterator[tuple[int, dict]]:
    """(line number, object) of each non-empty line, with a progress bar; a line that is not a JSON
    object is a user-facing error naming file and line."""
    if not path.is_file():
        raise SidLensError(f"{desc} file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        try:
            for lineno, line in enumerate(tqdm(fh, desc=f"reading {path.name}", unit=" lines"), start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise SidLensError(f"malformed row in {path} line {lineno}: not JSON ({exc})") from None
                if not isinstance(row, dict):
                    raise SidLensError(f"malformed row in {path} line {lineno}: expected a JSON object")
                yield lineno, row
        except (OSError, UnicodeDecodeError) as exc:  # e.g. a truncated .gz or a binary file
            raise SidLensError(f"cannot read {path}: {exc}") from None


def clean_title(raw) -> str:
    """The title as MiniOneRec cleans it: entities unescaped, whitespace collapsed, quotes stripped."""
    if not isinstance(raw, str) or "<span id" in raw:
        return ""
    return re.sub(r"\s+", " ", html.unescape(raw)).strip(" \"")


def _categories(row: dict) -> tuple[str, ...]:
    raw = row.get("category") or row.get("categories") or []
    flat = [c for group in raw for c in (group if isinstance(group, list) else [group])]
    if not flat and isinstance(row.get("main_category"), str):
        flat = [row["main_category"]]
    cleaned = (html.unescape(c).strip() for c in flat if isinstance(c, str) and "<" not in c)
    return tuple(dict.fromkeys(c for c in cleaned if c))


def read_items(cfg: AmazonConfig) -> tuple[dict[str, Item], Counter]:
    """Items with a usable title (first metadata line of each id wins) and counts of skipped ones."""
    key = META_ITEM_FIELD[cfg.format]
    items: dict[str, Item] = {}
    skipped: Counter = Counter()
    for lineno, row in read_jsonl(cfg.meta, "metadata"):
        item_id = row.get(key)
        if not isinstance(item_id, str) or not item_id:
            raise SidLensError(f"malformed row in {cfg.meta} line {lineno}: missing field {key!r}")
        if item_id in items:
            continue
        title = clean_title(row.get("title"))
        if len(title) <= 1:
            skipped["items_without_title"] += 1
        elif cfg.max_title_words and len(title.split()) > cfg.max_title_words:
            skipped["items_with_long_title"] += 1
        else:
            items[item_id] = Item(item_id, title, None, _categories(row))
    return items, skipped


def read_reviews(cfg: AmazonConfig) -> list[tuple[str, str, int, float]]:
    """(user, item, timestamp in the file's units, rating) of every review, in file order."""
    user_key, item_key, rating_key, time_key, _ = FORMATS[cfg.format]
    out = []
    for lineno, row in read_jsonl(cfg.reviews, "reviews"):
        try:
            user, item = row[user_key], row[item_key]
            stamp, rating = int(row[time_key]), float(row[rating_key])
        except KeyError as exc:
            raise SidLensError(f"malformed row in {cfg.reviews} line {lineno}: missing field {exc}") from None
        except (TypeError, ValueError) as exc:
            raise SidLensError(f"malformed row in {cfg.reviews} line {lineno}: {exc}") from None
        if not (isinstance(user, str) and user and isinstance(item, str) and item):
            raise SidLensError(f"malformed row in {cfg.reviews} line {lineno}: empty {user_key} or {item_key}")
        out.append((user, item, stamp, rating))
    return out


def k_core(reviews: list, k: int) -> list:
    """Drop users and items with fewer than k reviews, repeatedly, until every one left has k."""
    while reviews:
        users = Counter(r[0] for r in reviews)
        items = Counter(r[1] for r in reviews)
        kept = [r for r in reviews if users[r[0]] >= k and items[r[1]] >= k]
        if len(kept) == len(reviews):
            break
        reviews = kept
    return reviews


def load_amazon(name: str, cfg: AmazonConfig) -> Dataset:
    """Read, filter and order one category's reviews (see the module docstring for the rules)."""
    items, skipped = read_items(cfg)
    reviews = read_reviews(cfg)
    total = len(reviews)
    untitled = {r[1] for r in reviews if r[1] not in items}
    skipped["reviewed_items_without_usable_title"] = len(untitled)
    reviews = [r for r in reviews if r[1] in items]
    per_second = FORMATS[cfg.format][4]
    start, end = cfg.window()
    in_window = [r for r in reviews if start <= r[2] / per_second <= end]
    skipped["reviews_outside_window"] = len(reviews) - len(in_window)
    reviews = in_window
    if cfg.dedupe:
        first: dict[tuple[str, str], tuple] = {}
        for r in reviews:
            if (r[0], r[1]) not in first or r[2] < first[r[0], r[1]][2]:
                first[r[0], r[1]] = r
        skipped["repeated_reviews"] = len(reviews) - len(first)
        reviews = [r for r in reviews if first[r[0], r[1]] is r]
    reviews = k_core(reviews, cfg.k_core)
    if not reviews:
        raise SidLensError(f"dataset {name} is empty after filtering: of {total} reviews, "
                           f"{dict(skipped)} and none survive {cfg.k_core}-core filtering "
                           "(widen the time window or lower --k-core)")
    sequences: dict[str, list[Interaction]] = {}
    for user, item, stamp, rating in sorted(reviews, key=lambda r: (r[0], r[2])):  # stable: ties keep file order
        sequences.setdefault(user, []).append(Interaction(user, item, stamp // per_second, rating))
    used = sorted({r[1] for r in reviews})
    meta = {"source": f"Amazon reviews {cfg.format}", "reviews_read": total, "skipped": dict(skipped),
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(cfg).items()}}
    return Dataset(name, {i: items[i] for i in used}, {u: User(u) for u in sequences}, sequences, meta)
