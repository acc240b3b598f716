"""Histories an analyst builds in the app: item search, starting points, editing, saved histories.

A history is a list of item ids, oldest first, the same shape a split's example has, so it can be
fed straight to the recommendation prompt. Three ways to start one:
- search items by title, genre and year (`search_items`), most-interacted items first;
- a real user's history: the items before that user's test target (leave-one-out, last `window`);
- a profile (gender, occupation, age band): the items most often seen by users who match it, in
  the order those users typically saw them (median timestamp), a synthetic "typical" history.
Named histories are saved in the store's `histories` table, per dataset.
"""
from __future__ import annotations

import statistics
from collections import Counter, defaultdict

from core.data.schema import Dataset, Item
from core.data.split import Split
from core.errors import SidLensError
from core.llm.prompts import DEFAULT_WINDOW
from core.store import Store, now


def popularity(dataset: Dataset) -> Counter:
    """Interactions per item."""
    return Counter(x.item_id for seq in dataset.sequences.values() for x in seq)


def genres(dataset: Dataset) -> list[str]:
    return sorted({g for item in dataset.items.values() for g in item.genres})


def year_range(dataset: Dataset) -> tuple[int, int]:
    years = [item.year for item in dataset.items.values() if item.year is not None]
    if not years:
        raise SidLensError(f"dataset {dataset.name} has no item years")
    return min(years), max(years)


def search_items(dataset: Dataset, query: str = "", genres: tuple[str, ...] | list[str] = (),
                 years: tuple[int, int] | None = None, limit: int = 50, pop: Counter | None = None) -> list[Item]:
    """Items whose title contains every word of `query` (case-insensitive), that have every genre in
    `genres` and a year within `years` (inclusive; items without a year are kept only when `years`
    is None). Most-interacted first; pass `pop` (from `popularity`) to skip recounting."""
    words = query.lower().split()
    wanted = set(genres)
    pop = popularity(dataset) if pop is None else pop
    hits = [item for item in dataset.items.values()
            if all(w in item.title.lower() for w in words) and wanted <= set(item.genres)
            and (years is None or (item.year is not None and years[0] <= item.year <= years[1]))]
    hits.sort(key=lambda item: (-pop[item.item_id], item.title))
    return hits[:limit]


def user_history(dataset: Dataset, user_id: str, window: int = DEFAULT_WINDOW) -> list[str]:
    """The items a real user saw before their test target (the last `window` of them)."""
    return list(Split(dataset, window).example(str(user_id), "test").history)


def matching_users(dataset: Dataset, gender: str | None = None, occupation: str | None = None,
                   ages: tuple[int, int] | None = None) -> list[str]:
    """Users whose profile matches every given field (age band inclusive)."""
    return [u.user_id for u in dataset.users.values()
            if (not gender or u.gender == gender) and (not occupation or u.occupation == occupation)
            and (ages is None or (u.age is not None and ages[0] <= u.age <= ages[1]))
            and u.user_id in dataset.sequences]


def profile_history(dataset: Dataset, gender: str | None = None, occupation: str | None = None,
                    ages: tuple[int, int] | None = None, length: int = 10) -> list[str]:
    """A typical history for a profile: the `length` items most seen by matching users, ordered by
    the median time those users saw them."""
    users = matching_users(dataset, gender, occupation, ages)
    if not users:
        raise SidLensError("no user matches this profile: widen the age band or clear a field")
    seen: dict[str, list[int]] = defaultdict(list)
    for u in users:
        for x in dataset.sequences[u]:
            seen[x.item_id].append(x.timestamp)
    top = sorted(seen, key=lambda i: (-len(seen[i]), i))[:length]
    return sorted(top, key=lambda i: (statistics.median(seen[i]), i))


def move(items: list[str], index: int, offset: int) -> list[str]:
    """A copy of `items` with the item at `index` moved by `offset` places (clamped to the ends)."""
    out = list(items)
    target = max(0, min(len(out) - 1, index + offset))
    out.insert(target, out.pop(index))
    return out


def save_history(store: Store, name: str, dataset: str, items: list[str]) -> None:
    name = (name or "").strip()
    if not name:
        raise SidLensError("a saved history needs a name")
    if not items:
        raise SidLensError("the history is empty: add items before saving it")
    store.upsert("histories", {"name": name, "dataset": dataset, "items": list(items), "updated": now()})


def saved_histories(store: Store, dataset: str) -> list[str]:
    return [r["name"] for r in store.rows("histories", "dataset = ?", [dataset], order_by="name")]


def load_history(store: Store, name: str, dataset: Dataset) -> tuple[list[str], list[str]]:
    """(items of the saved history that the dataset knows, notes about any it dropped)."""
    row = store.get("histories", name)
    if row is None or row["dataset"] != dataset.name:
        raise SidLensError(f"no saved history {name!r} for dataset {dataset.name}")
    known = [i for i in row["items"] if i in dataset.items]
    dropped = len(row["items"]) - len(known)
    return known, [f"{dropped} item(s) of {name!r} are no longer in {dataset.name} and were dropped"] if dropped else []


def delete_history(store: Store, name: str) -> None:
    store.delete_where("histories", "name = ?", [name])
