"""The item -> Semantic ID mapping every later stage reads.

A SID is a tuple of codes, one per level; level i is written with letter `LEVEL_LETTERS[i]`, so
(12, 3, 45) is `<a_12><b_3><c_45>` (and `<d_k>` for a 4th level, e.g. a disambiguation level).
The map's `hash` (sha256 of its canonical JSON) is recorded with every checkpoint: loading a
checkpoint against a different map is refused, because the model's SID tokens would point at the
wrong items.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from core.atomic import write_json
from core.errors import SidLensError

LEVEL_LETTERS = "abcdefgh"
TOKEN_RE = re.compile(r"<([a-h])_(\d+)>")


def token(level: int, code: int) -> str:
    return f"<{LEVEL_LETTERS[level]}_{code}>"


def parse_tokens(text: str) -> list[tuple[int, int]]:
    """All SID tokens in `text` as (level, code) pairs, in order."""
    return [(LEVEL_LETTERS.index(m.group(1)), int(m.group(2))) for m in TOKEN_RE.finditer(text)]


@dataclass
class SidMap:
    dataset: str
    method: str
    codebook_sizes: list[int]
    codes: dict[str, tuple[int, ...]]
    stats: dict = field(default_factory=dict)

    def __post_init__(self):
        self.codes = {k: tuple(int(c) for c in v) for k, v in self.codes.items()}
        self._by_codes = {v: k for k, v in self.codes.items()}

    @property
    def levels(self) -> int:
        return len(self.codebook_sizes)

    def sid(self, item_id: str) -> tuple[int, ...]:
        try:
            return self.codes[str(item_id)]
        except KeyError:
            raise SidLensError(f"unknown item {item_id!r}: it has no SID in dataset {self.dataset}") from None

    def sid_tokens(self, item_id: str) -> list[str]:
        return [token(level, code) for level, code in enumerate(self.sid(item_id))]

    def sid_text(self, item_id: str) -> str:
        return "".join(self.sid_tokens(item_id))

    def item_for(self, codes) -> str | None:
        """The item with exactly these codes, or None when no item has them."""
        return self._by_codes.get(tuple(int(c) for c in codes))

    def item_for_text(self, text: str) -> str | None:
        """The item named by the first full SID in `text` (levels in order), or None."""
        pairs = parse_tokens(text)
        for start in range(len(pairs)):
            window = pairs[start:start + self.levels]
            if len(window) == self.levels and [lv for lv, _ in window] == list(range(self.levels)):
                return self.item_for(c for _, c in window)
        return None

    def all_tokens(self) -> list[str]:
        """Every token the vocabulary needs: all codes of every level, used or not."""
        return [token(level, code) for level, size in enumerate(self.codebook_sizes) for code in range(size)]

    def to_json(self) -> dict:
        return {"dataset": self.dataset, "method": self.method, "codebook_sizes": list(self.codebook_sizes),
                "codes": {k: list(v) for k, v in sorted(self.codes.items())}, "stats": self.stats}

    @property
    def hash(self) -> str:
        canonical = {"codebook_sizes": list(self.codebook_sizes),
                     "codes": {k: list(v) for k, v in sorted(self.codes.items())}}
        return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()[:16]

    def save(self, path: str | Path) -> Path:
        return write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "SidMap":
        path = Path(path)
        if not path.exists():
            raise SidLensError(f"no SID map at {path}: run `python -m core sids build` first")
        try:
            raw = json.loads(path.read_text())
            return cls(raw["dataset"], raw["method"], raw["codebook_sizes"], raw["codes"], raw.get("stats", {}))
        except (ValueError, KeyError, TypeError) as exc:
            raise SidLensError(f"malformed SID map {path}: {exc}") from None
