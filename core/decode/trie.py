"""Prefix trie over every item's SID, in token-id space, for constrained decoding.

Each item's SID `(c1, c2, c3)` becomes the token-id path `(id(<a_c1>), id(<b_c2>), id(<c_c3>))`;
a node stores how many items lie under each child, so a query can exclude items (a user's
history, as RecBole does) without rebuilding anything: `exclusion(items)` counts the excluded
items under each prefix once per query (O(len(items) * levels)), and a child is allowed only while
at least one non-excluded item remains under it.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Iterable

from core.errors import SidLensError
from core.sid.sidmap import SidMap, token


class SidTrie:
    """All item SIDs as token-id paths of length `depth` (= the SID map's levels)."""

    def __init__(self, sidmap: SidMap, tokenizer):
        self.sidmap = sidmap
        self.depth = sidmap.levels
        vocab = tokenizer.get_vocab()
        missing = [t for t in sidmap.all_tokens() if t not in vocab]
        if missing:
            raise SidLensError(f"tokenizer lacks {len(missing)} SID tokens (e.g. {missing[0]}): add the SID map's tokens "
                               "to the model first (core.llm.sid_tokens.add_sid_tokens)")
        # token_ids[level][code] -> vocabulary id; code_of[id] -> (level, code) for the way back.
        self.token_ids = [[vocab[token(level, code)] for code in range(size)]
                          for level, size in enumerate(sidmap.codebook_sizes)]
        self.code_of = {tid: (level, code) for level, ids in enumerate(self.token_ids) for code, tid in enumerate(ids)}
        self._children: dict[tuple[int, ...], Counter] = defaultdict(Counter)
        self._items: dict[tuple[int, ...], str] = {}
        self._paths: dict[str, tuple[int, ...]] = {}
        for item_id, codes in sorted(sidmap.codes.items()):
            path = self.path(codes)
            if path in self._items:  # two items with one SID: the map's builder should have split them
                raise SidLensError(f"items {self._items[path]!r} and {item_id!r} share the SID {codes}: rebuild the SID map")
            self._items[path] = item_id
            self._paths[item_id] = path
            for level in range(self.depth):
                self._children[path[:level]][path[level]] += 1
        self._children = dict(self._children)

    def __len__(self) -> int:
        return len(self._items)

    def path(self, codes: Iterable[int]) -> tuple[int, ...]:
        """Token ids of a SID given as codes."""
        return tuple(self.token_ids[level][int(code)] for level, code in enumerate(codes))

    def codes(self, ids: Iterable[int]) -> tuple[int, ...]:
        """Codes of a (partial) SID given as token ids."""
        return tuple(self.code_of[int(i)][1] for i in ids)

    def exclusion(self, items: Iterable[str] | None) -> Counter:
        """Number of excluded items under every prefix they touch (full paths included).

        Items that have no SID are ignored: they can never be generated, so there is nothing to
        exclude (validating a history is the prompt builder's job, which names the bad item).
        """
        counts: Counter = Counter()
        for item in set(items or ()):
            path = self._paths.get(str(item))
            if path is not None:
                for level in range(1, self.depth + 1):
                    counts[path[:level]] += 1
        return counts

    def allowed(self, prefix_ids: Iterable[int], excluded: Counter | None = None) -> list[int]:
        """Token ids that continue `prefix_ids` towards at least one (non-excluded) item; [] when complete or dead."""
        prefix = tuple(int(i) for i in prefix_ids)
        children = self._children.get(prefix, {})
        if not excluded:
            return list(children)
        return [tid for tid, n in children.items() if n > excluded.get(prefix + (tid,), 0)]

    def item_for(self, ids: Iterable[int]) -> str | None:
        """The item whose full SID is these token ids, or None."""
        return self._items.get(tuple(int(i) for i in ids))
