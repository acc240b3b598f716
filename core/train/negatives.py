"""Negative items for DPO / Softmax-DPO: the responses the target item must beat.

Three samplers, all seeded and all excluding the target and every item the user interacted with in
the training part of the split (a negative the user actually watched would teach the model to push
down a true preference). Validation and test items are never looked at, so nothing leaks from the
held-out targets; a negative may therefore be a user's future test item by chance, as in S-DPO.
- `random`: uniform over the remaining items (S-DPO's setting).
- `popularity`: proportional to each item's count of training interactions (popular items are
  the plausible mistakes of a recommender; items never seen in training are never drawn).
- `hard`: the SFT model's own constrained beam top-K (`core.decode.beam.constrained_topk`) over
  the remaining items, i.e. what the model would wrongly recommend now. Costs one beam search per
  example, so it is by far the slowest (see BENCHMARKS.md).
Each example's draw uses a generator seeded by (seed, the example's position in the plan), so a
plan is reproducible and does not depend on batch sizes.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

from core.data.split import Example, Split
from core.errors import SidLensError

SAMPLERS = ("random", "popularity", "hard")


def excluded_items(split: Split, example: Example) -> set[str]:
    """Items that may never be a negative of `example`: the target and the user's training items."""
    return set(split.train_items(example.user_id)) | {example.target}


def _draw(split: Split, examples: Sequence[Example], k: int, seed: int, weights: dict[str, float] | None):
    items = sorted(split.dataset.items)
    out = []
    for position, example in enumerate(examples):
        banned = excluded_items(split, example)
        pool = [i for i in items if i not in banned and (weights is None or weights.get(i, 0) > 0)]
        if len(pool) < k:
            raise SidLensError(f"user {example.user_id} has only {len(pool)} items left to sample, fewer than "
                               f"the {k} negatives asked for")
        p = None
        if weights is not None:
            p = np.array([weights[i] for i in pool], dtype=float)
            p /= p.sum()
        rng = np.random.default_rng([seed, position])
        out.append([pool[j] for j in rng.choice(len(pool), size=k, replace=False, p=p)])
    return out


def random_negatives(split: Split, examples: Sequence[Example], k: int, seed: int = 0) -> list[list[str]]:
    """`k` distinct uniformly drawn items per example."""
    return _draw(split, examples, k, seed, None)


def popularity_negatives(split: Split, examples: Sequence[Example], k: int, seed: int = 0) -> list[list[str]]:
    """`k` distinct items per example, drawn in proportion to their training interaction counts."""
    counts = Counter(i for user in split.sequences for i in split.train_items(user))
    return _draw(split, examples, k, seed, dict(counts))


def hard_negatives(model, tokenizer, trie, prompts: list[str], split: Split, examples: Sequence[Example], k: int,
                   batch_size: int = 8, progress: bool = True) -> list[list[str]]:
    """The model's constrained beam top-`k` per example, the target and training items excluded."""
    from core.decode.beam import constrained_topk

    recs = constrained_topk(model, tokenizer, trie, prompts, k=k, num_beams=max(10, k),
                            exclude=[excluded_items(split, ex) for ex in examples], batch_size=batch_size,
                            progress=progress)
    out = [[r.item_id for r in rec] for rec in recs]
    short = next((ex.user_id for ex, items in zip(examples, out) if len(items) < k), None)
    if short is not None:
        raise SidLensError(f"user {short} has fewer than {k} items left for hard negatives")
    return out


def sample_negatives(sampler: str, split: Split, examples: Sequence[Example], k: int, seed: int = 0, *,
                     model=None, tokenizer=None, trie=None, prompts: list[str] | None = None,
                     batch_size: int = 8) -> list[list[str]]:
    """Negatives per example with the named sampler (`hard` needs the model, tokenizer, trie and prompts)."""
    if k < 1:
        raise SidLensError(f"the number of negatives must be at least 1, not {k}")
    if sampler == "random":
        return random_negatives(split, examples, k, seed)
    if sampler == "popularity":
        return popularity_negatives(split, examples, k, seed)
    if sampler == "hard":
        return hard_negatives(model, tokenizer, trie, prompts, split, examples, k, batch_size)
    raise SidLensError(f"unknown negative sampler {sampler!r} (choose {', '.join(SAMPLERS)})")
