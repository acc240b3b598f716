"""Evaluate recommenders that give a score to every item (the baselines) on the leave-one-out split.

Full ranking: every item of the dataset is ranked for every user; the items the user saw before the
target are excluded by default (RecBole's full-sort evaluation does the same; `exclude_seen=False`
keeps them), so an already-seen target can never be hit. Ties are broken by item order (a stable
sort), and the stored rank is the target's position in exactly the order the top-10 shows. The
20-candidate HR@1 reads the same scores at the sampled candidates. Results go to the store with
`core.eval.results.save_results`, in the same shape as the LM runner's, so pages compare them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from core.data.split import Split
from core.errors import SidLensError
from core.eval.candidates import N_CANDIDATES, hr1_from_scores, sample_candidates
from core.eval.metrics import hit_ndcg
from core.eval.results import save_results, user_result
from core.store import Store

CAND_KEY = f"cand{N_CANDIDATES}_hr@1"
BASELINE_STAGE = "baseline"


@dataclass
class RankingConfig:
    """How a baseline is evaluated (shared by every baseline's config)."""

    exclude_seen: bool = field(default=True, metadata={
        "help": "exclude the items a user saw before the target from the ranking (as RecBole does)"})
    candidate_seed: int = field(default=0, metadata={
        "help": "seed of the 20-candidate protocol's negative sampling (same seed = same candidates)"})


@dataclass
class SASRecConfig(RankingConfig):
    """SASRec's model and training settings (core.eval.sasrec; here so the CLI builds its options
    without importing torch); defaults suit ml-100k on a CPU (about a minute per 15 epochs)."""

    hidden: int = field(default=64, metadata={"help": "size of item and position embeddings and of every block"})
    blocks: int = field(default=2, metadata={"help": "number of self-attention blocks"})
    heads: int = field(default=2, metadata={"help": "attention heads per block (must divide hidden)"})
    dropout: float = field(default=0.2, metadata={"help": "dropout on embeddings, attention and feed-forward"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    batch_size: int = field(default=128, metadata={"help": "training chunks per step"})
    epochs: int = field(default=200, metadata={"help": "maximum training epochs (early stopping usually ends sooner)"})
    patience: int = field(default=10, metadata={"help": "stop after this many epochs without a better validation NDCG@10"})
    seed: int = field(default=0, metadata={"help": "seed of initialisation, dropout and chunk offsets"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0 = torch's default)"})

    def __post_init__(self):
        for name in ("hidden", "blocks", "heads", "batch_size", "epochs", "patience"):
            if getattr(self, name) < 1:
                raise SidLensError(f"SASRec {name} must be at least 1, not {getattr(self, name)}")
        if self.hidden % self.heads:
            raise SidLensError(f"SASRec hidden size {self.hidden} is not divisible by {self.heads} heads")
        if not 0 <= self.dropout < 1 or self.lr <= 0 or self.threads < 0:
            raise SidLensError(f"SASRec needs 0 <= dropout < 1, lr > 0 and threads >= 0 "
                               f"(got dropout {self.dropout}, lr {self.lr}, threads {self.threads})")


class ItemScorer:
    """A model that scores all of `item_ids` given a history; subclasses implement `score`."""

    def __init__(self, item_ids: Sequence[str]):
        self.item_ids = list(item_ids)
        self.index = {item: i for i, item in enumerate(self.item_ids)}

    def score(self, histories: Sequence[Sequence[str]]) -> np.ndarray:
        """Scores of shape (len(histories), len(item_ids)); higher means recommended first."""
        raise NotImplementedError

    def score_candidates(self, histories: Sequence[Sequence[str]],
                         candidate_lists: Sequence[Sequence[str]]) -> list[list[float]]:
        """For each history, the scores of its candidates (for the 20-candidate HR@1)."""
        scores = self.score(histories)
        return [[float(row[self.index[item]]) for item in candidates]
                for row, candidates in zip(scores, candidate_lists)]


def rank_part(scorer: ItemScorer, split: Split, part: str, exclude_seen: bool = True,
              batch_size: int = 256, progress: bool = True) -> list[dict]:
    """Per-user rows (target, top-10, full rank) for every example of `part` ('valid' or 'test')."""
    examples = split.examples(part)
    rows = []
    for start in tqdm(range(0, len(examples), batch_size), desc=f"rank {part}", unit="batch", leave=False,
                      disable=not progress):
        batch = examples[start:start + batch_size]
        scores = np.asarray(scorer.score([ex.history for ex in batch]), dtype=np.float64)
        for ex, row in zip(batch, scores):
            if exclude_seen:
                seen = [scorer.index[i] for i in split.seen_before(ex.user_id, part) if i in scorer.index]
                row[seen] = -np.inf
            order = np.argsort(-row, kind="stable")
            order = order[np.isfinite(row[order])]
            target = scorer.index.get(ex.target)
            position = None if target is None else np.flatnonzero(order == target)
            rank = int(position[0]) + 1 if position is not None and position.size else None
            rows.append(user_result(ex.user_id, ex.target, [scorer.item_ids[i] for i in order[:10]], rank))
    return rows


def candidate_hr1(scorer: ItemScorer, split: Split, part: str, seed: int = 0) -> float:
    """HR@1 of the 20-candidate protocol on `part`."""
    examples = split.examples(part)
    candidates = [sample_candidates(split, ex.user_id, seed=seed, part=part) for ex in examples]
    scores = scorer.score_candidates([ex.history for ex in examples], candidates)
    return hr1_from_scores(candidates, scores, [ex.target for ex in examples])


def evaluate_scorer(store: Store, run: str, scorer: ItemScorer, split: Split, parts=("valid", "test"),
                    exclude_seen: bool = True, candidate_seed: int = 0) -> dict[str, dict[str, float]]:
    """Evaluate `scorer` on each part, store metrics and per-user rows under `run`; metrics by part."""
    out = {}
    for part in parts:
        per_user = rank_part(scorer, split, part, exclude_seen)
        metrics = hit_ndcg([r["rank"] for r in per_user])
        metrics[CAND_KEY] = candidate_hr1(scorer, split, part, candidate_seed)
        save_results(store, run, part, per_user, metrics, users=len(per_user))
        out[part] = metrics
    return out


def run_baseline(store: Store, name: str, split: Split, config: RankingConfig,
                 fit: Callable[[str], tuple[ItemScorer, str | None, dict]]) -> dict[str, dict]:
    """Record run `name` (stage "baseline"), build its scorer with `fit(name)` (which returns the
    scorer, its checkpoint path or None, and facts about the fit such as training time), evaluate
    it on valid and test and mark it done; the fit facts are kept in the run's config under "fit".
    A failure marks the run failed and re-raises. Returns the metrics by part plus "fit"."""
    run_config = {**asdict(config), "window": split.window}
    store.start_run(name, dataset=split.dataset.name, stage=BASELINE_STAGE, config=run_config)
    try:
        scorer, checkpoint, facts = fit(name)
        metrics = evaluate_scorer(store, name, scorer, split, exclude_seen=config.exclude_seen,
                                  candidate_seed=config.candidate_seed)
    except BaseException:
        store.finish_run(name, status="failed")
        raise
    store.finish_run(name, checkpoint=checkpoint or "", config={**run_config, "fit": facts})
    return {**metrics, "fit": facts}
