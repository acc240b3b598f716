"""The in-memory shape of a dataset, shared by every later stage.

Ids are strings everywhere (MovieLens ids are numbers, Amazon ids are ASINs) so nothing downstream
has to care where a dataset came from.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable


@dataclass(frozen=True)
class Item:
    item_id: str
    title: str
    year: int | None = None
    genres: tuple[str, ...] = ()

    @property
    def dated_title(self) -> str:
        """Title with its release year, e.g. 'Toy Story (1995)': how prompts, traces and the app write an
        item (the year is not repeated when the title already holds it)."""
        if self.year is None or str(self.year) in self.title:
            return self.title
        return f"{self.title} ({self.year})"

    def text(self) -> str:
        """The text the item encoder embeds: title, year and genres."""
        parts = [self.dated_title]
        if self.genres:
            parts.append("Genres: " + ", ".join(self.genres))
        return ". ".join(parts)


@dataclass(frozen=True)
class User:
    user_id: str
    age: int | None = None
    gender: str | None = None
    occupation: str | None = None

    def profile(self) -> str:
        """A short profile sentence for prompts ('' when nothing is known)."""
        bits = []
        if self.age is not None:
            bits.append(f"age {self.age}")
        if self.gender:
            bits.append({"M": "male", "F": "female"}.get(self.gender, self.gender))
        if self.occupation:
            bits.append(self.occupation)
        return ", ".join(bits)


@dataclass(frozen=True)
class Interaction:
    user_id: str
    item_id: str
    timestamp: int
    rating: float | None = None


@dataclass
class Dataset:
    """Items, users and each user's chronologically ordered interactions.

    `sequences[user_id]` is sorted by (timestamp, then the order the rows appeared in the source
    file), which is the deterministic tie-break every split relies on.
    """

    name: str
    items: dict[str, Item]
    users: dict[str, User]
    sequences: dict[str, list[Interaction]]
    meta: dict = field(default_factory=dict)

    def genre_counts(self, history: Iterable[str]) -> Counter:
        """How many of `history`'s items carry each genre: what the teacher's "recurs most" and "taste
        leans to" claims state, what the faithfulness checker checks them against and what the summary
        prompt lists (one count for all three)."""
        return Counter(g for i in history for g in self.items[i].genres)

    def ranked_genres(self, history: Iterable[str]) -> list[tuple[str, int]]:
        """`genre_counts` as (genre, count) pairs, most common first and by name on a tie: the one order
        in which the summary prompt lists genres and the teacher names the dominant and taste genres."""
        return sorted(self.genre_counts(history).items(), key=lambda kv: (-kv[1], kv[0]))

    def decade_counts(self, history: Iterable[str]) -> Counter:
        """How many of `history`'s items are from each decade (1990 for 1995); items without a year are
        left out."""
        return Counter(self.items[i].year // 10 * 10 for i in history if self.items[i].year)

    def usual_decade(self, history: Iterable[str]) -> int | None:
        """The decade most of `history`'s items are from (the earliest on a tie); None when no item has
        a year."""
        decades = self.decade_counts(history)
        return min(decades, key=lambda d: (-decades[d], d)) if decades else None

    def stats(self) -> dict:
        return {
            "users": len(self.sequences),
            "items": len(self.items),
            "interactions": sum(len(s) for s in self.sequences.values()),
        }
