"""Leave-one-out split, as in SASRec, S-DPO and MiniOneRec.

For each user's chronological sequence: the last item is the test target, the second-to-last the
validation target, the rest is training. Histories fed to a model are the last `window` items
before the target (default 20). Training examples come from every prefix of the training part:
for train items t_1..t_n, one example (t_max(1,i-window)..t_{i-1} -> t_i) per i >= 2.
Users with fewer than 3 interactions have no test example (MovieLens-100k has none such).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from core.data.schema import Dataset

PARTS = ("train", "valid", "test")

# The history length a model sees (the last `window` items), one home for every prompt and example;
# core.llm.prompts uses it for the prompts' default window.
DEFAULT_WINDOW = 20


@dataclass(frozen=True)
class Example:
    user_id: str
    history: tuple[str, ...]
    target: str


@dataclass
class Split:
    dataset: Dataset
    window: int = DEFAULT_WINDOW

    def __post_init__(self):
        if self.window < 1:
            raise ValueError("window must be >= 1")

    @cached_property
    def sequences(self) -> dict[str, list[str]]:
        """Each user's full item sequence (chronological)."""
        return {u: [x.item_id for x in seq] for u, seq in self.dataset.sequences.items()}

    def train_items(self, user_id: str) -> list[str]:
        seq = self.sequences[user_id]
        return seq[:-2] if len(seq) >= 3 else seq

    def seen_before(self, user_id: str, part: str) -> set[str]:
        """Items the user interacted with before the target of `part` (excluded from rankings)."""
        seq = self.sequences[user_id]
        cut = {"train": len(seq), "valid": len(seq) - 2, "test": len(seq) - 1}[part]
        return set(seq[:cut])

    def examples(self, part: str) -> list[Example]:
        """Examples of one part, in user order; for 'train' one per prefix of the training items."""
        if part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}, not {part!r}")
        out: list[Example] = []
        w = self.window
        for user_id, seq in self.sequences.items():
            if len(seq) < 3:
                continue
            if part == "test":
                out.append(Example(user_id, tuple(seq[:-1][-w:]), seq[-1]))
            elif part == "valid":
                out.append(Example(user_id, tuple(seq[:-2][-w:]), seq[-2]))
            else:
                train = seq[:-2]
                out.extend(Example(user_id, tuple(train[max(0, i - w):i]), train[i]) for i in range(1, len(train)))
        return out

    def example(self, user_id: str, part: str = "test") -> Example:
        seq = self.sequences.get(str(user_id))
        if seq is None:
            from core.errors import SidLensError
            raise SidLensError(f"unknown user {user_id!r} in dataset {self.dataset.name}")
        idx = {"test": len(seq) - 1, "valid": len(seq) - 2}[part]
        return Example(str(user_id), tuple(seq[:idx][-self.window:]), seq[idx])
