"""Questions the Codebook space page asks of a SID map, answered without a model.

- which code each item has at a level, or its first genre (how the scatter is coloured);
- the items and sub-codes under a prefix (pick a code, see what it groups);
- per level, how many items each code holds (utilisation) and how many items still share their
  prefix with another item down to that level (collisions: at the last level this is the map's
  collision count, which the builder resolves to 0).
"""
from __future__ import annotations

from collections import Counter

from core.data.schema import Dataset
from core.sid.sidmap import SidMap, token

COLOR_BY = ("level 1 code", "level 2 code", "genre")


def color_labels(dataset: Dataset, sidmap: SidMap, by: str) -> list[str]:
    """One label per item of `dataset` (in `list(dataset.items)` order) for colouring a scatter."""
    if by == "genre":
        return [item.genres[0] if item.genres else "(none)" for item in dataset.items.values()]
    if by not in COLOR_BY:
        raise ValueError(f"colour by one of {COLOR_BY}, not {by!r}")
    level = int(by.split()[1]) - 1
    return [token(level, sidmap.codes[i][level]) if i in sidmap.codes else "(no SID)" for i in dataset.items]


def items_under(sidmap: SidMap, prefix: tuple[int, ...]) -> list[str]:
    """Item ids whose SID starts with `prefix`, by SID."""
    n = len(prefix)
    return sorted((i for i, codes in sidmap.codes.items() if codes[:n] == tuple(prefix)),
                  key=lambda i: sidmap.codes[i])


def sub_codes(sidmap: SidMap, prefix: tuple[int, ...]) -> dict[int, int]:
    """{code at the next level: items} under `prefix` (empty when the prefix is a full SID)."""
    n = len(prefix)
    counts = Counter(codes[n] for codes in sidmap.codes.values() if codes[:n] == tuple(prefix) and len(codes) > n)
    return dict(sorted(counts.items()))


def items_per_code(sidmap: SidMap, level: int) -> list[int]:
    """Items holding each code of `level`, for every code of the codebook (unused codes count 0)."""
    counts = Counter(codes[level] for codes in sidmap.codes.values())
    return [counts.get(code, 0) for code in range(sidmap.codebook_sizes[level])]


def prefix_sharing(sidmap: SidMap) -> list[dict]:
    """Per level: distinct prefixes down to it, and items that share their prefix with another item."""
    out = []
    for level in range(sidmap.levels):
        counts = Counter(codes[:level + 1] for codes in sidmap.codes.values())
        out.append({"level": level + 1, "prefixes": len(counts),
                    "items sharing a prefix": sum(c for c in counts.values() if c > 1)})
    return out
