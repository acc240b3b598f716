"""The 20-candidate protocol of S-DPO and LLaRA.

Each user gets the target plus 19 items they never interacted with (at any time, not only before
the target), drawn with a random generator seeded by (seed, user id) so the same user always gets
the same list whatever order users are evaluated in, then shuffled with the same generator so the
target's position carries no signal. A model scores every candidate (an LM by the likelihood of
the candidate's SID, a baseline by its item score) and HR@1 is the share of users whose target
scores highest. Unlike the papers, which sample from the items of their own preprocessed
datasets, we sample from every item of the dataset in sorted id order so the draw is reproducible.

The prompted variant (LLaRA, S-DPO's evaluation) instead lists the candidates in the prompt and
reads the item the model names in its answer: `prompted_metrics` gives HR@1 (the answer is the
target) and LLaRA's ValidRatio (the answer names one of the listed candidates at all). Beside them,
`cand20_prompted_lik_hr@1` ranks the same 20 listed candidates by the likelihood of their SIDs under
that listing prompt (`best_candidate`): what DPO and S-DPO on candidate-list prompts optimise
directly, so it separates "ranks the listed items well" from "answers with a listed item at all".
"""
from __future__ import annotations

import random
from typing import Sequence

from core.data.split import Split
from core.errors import SidLensError

N_CANDIDATES = 20
PROMPTED_KEY = f"cand{N_CANDIDATES}_prompted_hr@1"
VALID_KEY = f"cand{N_CANDIDATES}_valid_ratio"
PROMPTED_LIK_KEY = f"cand{N_CANDIDATES}_prompted_lik_hr@1"


def sample_candidates(split: Split, user_id: str, n: int = N_CANDIDATES, seed: int = 0,
                      part: str = "test") -> list[str]:
    """The target of `part` for `user_id` plus n-1 never-seen items, in a seeded shuffled order."""
    return candidates_for(split, str(user_id), split.example(user_id, part).target, n, f"{seed}:{user_id}")


def candidates_for(split: Split, user_id: str, target: str, n: int = N_CANDIDATES, key: str = "0",
                   shrink: bool = False) -> list[str]:
    """`target` plus n-1 items `user_id` never interacted with, drawn and shuffled by a generator
    seeded with `key` (the evaluation keys by seed and user; training lists, several per user, by
    seed, user and history length). Too few unseen items is an error, or with `shrink` a shorter
    list (a corpus over a small catalogue)."""
    if n < 1:
        raise SidLensError(f"the number of candidates must be at least 1, got {n}")
    ever_seen = set(split.sequences[str(user_id)])
    pool = sorted(item for item in split.dataset.items if item not in ever_seen)
    n = min(n, len(pool) + 1) if shrink else n
    if len(pool) < n - 1:
        raise SidLensError(f"user {user_id} has only {len(pool)} unseen items, fewer than the {n - 1} "
                           f"negatives the {n}-candidate protocol needs")
    rng = random.Random(key)
    candidates = [target] + rng.sample(pool, n - 1)
    rng.shuffle(candidates)
    return candidates


def best_candidate(candidates: Sequence[str], scores: Sequence[float]) -> str:
    """The candidate with the strictly highest score, "" when the top score is tied (no pick, as
    `hit_at_1` counts a tie as a miss)."""
    if len(candidates) != len(scores) or not candidates:
        raise ValueError(f"{len(candidates)} candidates but {len(scores)} scores")
    top = max(scores)
    best = [item for item, score in zip(candidates, scores) if score == top]
    return best[0] if len(best) == 1 else ""


def hit_at_1(candidates: Sequence[str], scores: Sequence[float], target: str) -> bool:
    """True when the target's score is strictly higher than every other candidate's (`best_candidate`).

    A tie counts as a miss, so a model that gives every candidate the same score gets HR@1 = 0
    rather than a lucky 1/20 from whichever tie-break comes first.
    """
    if len(candidates) != len(scores):
        raise ValueError(f"{len(candidates)} candidates but {len(scores)} scores")
    if target not in candidates:
        raise ValueError(f"target {target!r} is not among the candidates")
    return best_candidate(candidates, scores) == target


def hr1_from_scores(candidate_lists: Sequence[Sequence[str]], score_lists: Sequence[Sequence[float]],
                    targets: Sequence[str]) -> float:
    """Mean of `hit_at_1` over users (0.0 for no users)."""
    if not (len(candidate_lists) == len(score_lists) == len(targets)):
        raise ValueError("candidate_lists, score_lists and targets must have the same length")
    if not targets:
        return 0.0
    hits = sum(hit_at_1(c, s, t) for c, s, t in zip(candidate_lists, score_lists, targets))
    return hits / len(targets)


def prompted_metrics(candidate_lists: Sequence[Sequence[str]], answers: Sequence[str | None],
                     targets: Sequence[str], likeliest: Sequence[str] | None = None) -> dict[str, float]:
    """{PROMPTED_KEY: share of answers naming the target, VALID_KEY: share naming one of their
    user's candidates}; an answer is the item id the model named, None when it named no item. With
    `likeliest` (per user the `best_candidate` under the listing prompt), also PROMPTED_LIK_KEY: the
    share of users whose likeliest listed candidate is the target."""
    if not (len(candidate_lists) == len(answers) == len(targets)):
        raise ValueError("candidate_lists, answers and targets must have the same length")
    if likeliest is not None and len(likeliest) != len(targets):
        raise ValueError("likeliest and targets must have the same length")
    n = max(len(targets), 1)
    hits = sum(answer is not None and answer == target for answer, target in zip(answers, targets))
    valid = sum(answer is not None and answer in cands for cands, answer in zip(candidate_lists, answers))
    out = {PROMPTED_KEY: hits / n, VALID_KEY: valid / n}
    if likeliest is not None:
        out[PROMPTED_LIK_KEY] = sum(best == target for best, target in zip(likeliest, targets)) / n
    return out
