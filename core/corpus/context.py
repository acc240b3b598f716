"""Training-only facts that the task generators and the teachers share.

Everything here is computed from the *training part* of the leave-one-out split (each user's
sequence minus its validation and test items), so no corpus text can carry a held-out
interaction: rating statistics count training ratings only, and "watched together" counts pairs
of items that sit within `cowatch_window` positions of each other in a training sequence (temporal
neighbours, rather than whole-history co-occurrence, which on MovieLens is dominated by a handful
of blockbusters that everybody rated). Item catalogue facts (title, year, genres, SID) are not
interactions and are used for every item.
"""
from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

from core.data.schema import Dataset, Interaction
from core.data.split import Example, Split
from core.llm.prompts import DEFAULT_WINDOW
from core.sid.sidmap import SidMap


@dataclass
class HistoryFacts:
    """What a list of items says about the person who watched them."""

    items: tuple[str, ...]
    genres: list[tuple[str, int]]        # most frequent first
    decades: list[tuple[int, int]]       # most frequent first
    mean_rating: float | None            # the user's own ratings of these items
    liked: list[str]                     # rated >= 4, best first
    disliked: list[str]                  # rated <= 2, worst first


@dataclass
class CorpusContext:
    dataset: Dataset
    sidmap: SidMap
    window: int = DEFAULT_WINDOW
    cowatch_window: int = 3

    @cached_property
    def split(self) -> Split:
        return Split(self.dataset, window=self.window)

    @cached_property
    def catalogue(self) -> list[str]:
        """Items that have both metadata and a SID, sorted (tasks 2 and 5 cover each of them)."""
        return sorted(i for i in self.sidmap.codes if i in self.dataset.items)

    @cached_property
    def train_examples(self) -> list[Example]:
        """Every prefix of every user's training items (shared by tasks 1, 3 and 4)."""
        return self.split.examples("train")

    def train_interactions(self, user_id: str) -> list[Interaction]:
        """The user's interactions that belong to the training part of the split."""
        return self.dataset.sequences[user_id][:len(self.split.train_items(user_id))]

    @cached_property
    def rating_stats(self) -> dict[str, tuple[float | None, int]]:
        """item -> (mean training rating or None, number of training interactions)."""
        sums: Counter = Counter()
        rated: Counter = Counter()
        counts: Counter = Counter()
        for user_id in self.dataset.sequences:
            for x in self.train_interactions(user_id):
                counts[x.item_id] += 1
                if x.rating is not None:
                    sums[x.item_id] += x.rating
                    rated[x.item_id] += 1
        return {i: (sums[i] / rated[i] if rated[i] else None, counts[i]) for i in counts}

    @cached_property
    def popularity_rank(self) -> dict[str, float]:
        """item -> share of items watched at least as often in training (0 = the most watched)."""
        ordered = sorted(self.rating_stats, key=lambda i: (-self.rating_stats[i][1], i))
        return {item: rank / max(1, len(ordered) - 1) for rank, item in enumerate(ordered)}

    @cached_property
    def _cowatch(self) -> dict[str, Counter]:
        pairs: dict[str, Counter] = {}
        for user_id in self.dataset.sequences:
            seq = self.split.train_items(user_id)
            for i, a in enumerate(seq):
                for b in seq[i + 1:i + 1 + self.cowatch_window]:
                    if a != b:
                        pairs.setdefault(a, Counter())[b] += 1
                        pairs.setdefault(b, Counter())[a] += 1
        return pairs

    def cowatched(self, item_id: str, k: int = 3) -> list[str]:
        """The k items most often watched next to `item_id` in training sequences (ties by id)."""
        counter = self._cowatch.get(item_id, Counter())
        return [i for i, _ in heapq.nsmallest(k, counter.items(), key=lambda kv: (-kv[1], kv[0]))]

    # -- how items are written --------------------------------------------------------------------
    def title(self, item_id: str) -> str:
        """Title with the release year, e.g. 'Toy Story (1995)'."""
        return self.dataset.items[item_id].dated_title

    @cached_property
    def _sid_texts(self) -> dict[str, str]:
        return {item_id: self.sidmap.sid_text(item_id) for item_id in self.sidmap.codes}

    def sid(self, item_id: str) -> str:
        """The item's SID text (precomputed: the corpus writes about a million of them)."""
        text = self._sid_texts.get(item_id)
        return text if text is not None else self.sidmap.sid_text(item_id)  # raises the one-line error

    def labelled(self, item_id: str) -> str:
        """Title followed by its SID: how narratives interleave SIDs with language."""
        return f"{self.title(item_id)} {self.sid(item_id)}"

    # -- facts --------------------------------------------------------------------------------------
    @cached_property
    def _ratings(self) -> dict[str, dict[str, float]]:
        return {u: {x.item_id: x.rating for x in seq if x.rating is not None} for u, seq in self.dataset.sequences.items()}

    def user_ratings(self, user_id: str) -> dict[str, float]:
        """The user's rating of each item they rated (only history items are ever looked up)."""
        return self._ratings[user_id]

    def history_facts(self, user_id: str, history: Sequence[str]) -> HistoryFacts:
        ratings = self.user_ratings(user_id)
        rated = [(ratings[i], i) for i in dict.fromkeys(history) if i in ratings]
        return HistoryFacts(
            items=tuple(history),
            genres=self.dataset.ranked_genres(history),
            decades=sorted(self.dataset.decade_counts(history).items(), key=lambda kv: (-kv[1], kv[0])),
            mean_rating=sum(r for r, _ in rated) / len(rated) if rated else None,
            liked=[i for r, i in sorted(rated, key=lambda x: (-x[0], x[1])) if r >= 4],
            disliked=[i for r, i in sorted(rated, key=lambda x: (x[0], x[1])) if r <= 2],
        )

    def profile(self, user_id: str) -> str:
        user = self.dataset.users.get(user_id)
        return user.profile() if user else ""
