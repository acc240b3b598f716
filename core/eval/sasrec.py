"""SASRec (Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018) as a baseline.

A causal Transformer over the item sequence; the last position's output, dotted with the shared
item embeddings, scores every item. Hand-written (about 100 lines of model and loop) because
RecBole is not a dependency and torch's `nn.TransformerEncoder` already provides the blocks.
How it differs from the paper:
- Loss: full-softmax cross-entropy over all items at every position instead of binary
  cross-entropy with one sampled negative; this is known to train faster and rank better
  (Klenitskiy & Vasilev, "Turning Dross Into Gold Loss: is BERT4Rec really better than SASRec?",
  RecSys 2023), and the issue asks for it.
- Sequence length: the model's maximum length is the split's history window (20 by default), so it
  sees exactly the histories the LM sees at evaluation. Training still uses every training
  interaction: each user's training sequence is cut into consecutive chunks of that length, each
  position predicting the next item (every training target appears once per epoch); the chunk
  boundaries move by a random offset each epoch so targets see different context lengths.
- Blocks are pre-LayerNorm `nn.TransformerEncoderLayer`s (as in the paper's code) with a
  feed-forward width equal to the hidden size; padding is on the left, so the most recent item
  always sits at the last learned position. Embeddings start at N(0, 0.02) as in RecBole, without
  the paper code's sqrt(hidden) scaling (with it the first logits saturate the full softmax).
- Early stopping on validation NDCG@10 (full ranking, seen items excluded), the best epoch's
  weights are kept; the paper stops on validation too but samples 100 negatives for its metrics.
Run it with `python -m core baselines run --dataset ml-100k --only sasrec`; weights are written to
`<data dir>/runs/sasrec/model.pt`.
"""
from __future__ import annotations

import copy
import pickle
import time
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from core.atomic import atomic_path
from core.data.split import Split
from core.errors import SidLensError
from core.eval.metrics import hit_ndcg
from core.eval.ranking import ItemScorer, SASRecConfig, rank_part, run_baseline
from core.paths import data_dir
from core.store import Store

RUN_NAME = "sasrec"


class SASRecNet(nn.Module):
    """Item and position embeddings, causal Transformer blocks, a final LayerNorm."""

    def __init__(self, n_items: int, max_len: int, config: SASRecConfig):
        super().__init__()
        self.heads = config.heads
        self.item_emb = nn.Embedding(n_items + 1, config.hidden, padding_idx=0)  # row 0 = padding
        self.pos_emb = nn.Embedding(max_len, config.hidden)
        self.dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(config.hidden, config.heads, dim_feedforward=config.hidden,
                                           dropout=config.dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, config.blocks, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.hidden)
        for emb in (self.item_emb, self.pos_emb):  # small init as RecBole; N(0, 1) saturates the softmax
            nn.init.normal_(emb.weight, std=0.02)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def forward(self, seqs: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, L, hidden) of left-padded item indices (B, L)."""
        length = seqs.size(1)
        x = self.item_emb(seqs) + self.pos_emb.weight[-length:]
        # Causal, and no real position attends to padding; each position may attend to itself so a
        # padding row is never fully masked (which would give NaN).
        future = torch.ones(length, length, dtype=torch.bool, device=seqs.device).triu(1)
        eye = torch.eye(length, dtype=torch.bool, device=seqs.device)
        mask = future | ((seqs == 0)[:, None, :] & ~eye)
        x = self.encoder(self.dropout(x), mask=mask.repeat_interleave(self.heads, dim=0))
        return self.norm(x)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores of the real items (padding row left out), column j = item index j + 1."""
        return hidden @ self.item_emb.weight[1:].T


class SASRec(ItemScorer):
    """A trained (or trainable) SASRec over the items of one dataset."""

    def __init__(self, item_ids: Sequence[str], max_len: int, config: SASRecConfig):
        super().__init__(item_ids)
        self.max_len = max_len
        self.config = config
        torch.manual_seed(config.seed)
        self.net = SASRecNet(len(self.item_ids), max_len, config)

    def encode(self, histories: Sequence[Sequence[str]]) -> torch.Tensor:
        """Left-padded index tensor of the last `max_len` known items of each history."""
        out = torch.zeros(len(histories), self.max_len, dtype=torch.long)
        for row, history in enumerate(histories):
            ids = [self.index[i] + 1 for i in history if i in self.index][-self.max_len:]
            if ids:
                out[row, -len(ids):] = torch.tensor(ids)
        return out

    @torch.no_grad()
    def score(self, histories: Sequence[Sequence[str]]) -> np.ndarray:
        self.net.eval()
        hidden = self.net(self.encode(histories))[:, -1]
        return self.net.logits(hidden).numpy()

    def chunks(self, split: Split, rng: np.random.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and next-item targets (0 = no target) of every training chunk; the boundaries are
        aligned to the end of each sequence, or shifted by a random offset when `rng` is given."""
        length, inputs, targets = self.max_len, [], []
        for user in split.sequences:
            seq = [self.index[i] + 1 for i in split.train_items(user) if i in self.index]
            m = len(seq) - 1  # positions that have a next item
            if m < 1:
                continue
            offset = int(rng.integers(length)) if rng is not None else m % length
            bounds = sorted({0, m, *range(offset, m, length)})
            for a, b in zip(bounds, bounds[1:]):
                pad = [0] * (length - (b - a))
                inputs.append(pad + seq[a:b])
                targets.append(pad + seq[a + 1:b + 1])
        return torch.tensor(inputs), torch.tensor(targets)

    def train_epoch(self, split: Split, optimizer: torch.optim.Optimizer, rng: np.random.Generator) -> float:
        """One pass over the shuffled training chunks; returns the mean cross-entropy per target."""
        self.net.train()
        inputs, targets = self.chunks(split, rng)
        order = torch.from_numpy(rng.permutation(len(inputs)))
        total, count = 0.0, 0
        for start in range(0, len(order), self.config.batch_size):
            idx = order[start:start + self.config.batch_size]
            real = targets[idx] > 0  # only positions with a next item; the softmax is most of the cost
            logits = self.net.logits(self.net(inputs[idx])[real])
            # targets are 1-based item indices, logit columns 0-based
            loss = nn.functional.cross_entropy(logits, targets[idx][real] - 1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            n = int(real.sum())
            total, count = total + loss.item() * n, count + n
        return total / max(count, 1)

    def fit(self, split: Split, store: Store | None = None, run: str | None = None) -> dict:
        """Train with early stopping on validation NDCG@10; keeps the best epoch's weights.
        Logs loss, validation NDCG@10 and elapsed seconds per epoch to `run` when a store is given."""
        cfg = self.config
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        optimizer = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, betas=(0.9, 0.98))
        best, best_epoch, best_state, started = -1.0, 0, None, time.monotonic()
        bar = tqdm(range(1, cfg.epochs + 1), desc="sasrec", unit="epoch")
        for epoch in bar:
            loss = self.train_epoch(split, optimizer, rng)
            ranks = [r["rank"] for r in rank_part(self, split, "valid", cfg.exclude_seen, progress=False)]
            ndcg = hit_ndcg(ranks, ks=(10,))["ndcg@10"]
            if ndcg > best:
                best, best_epoch, best_state = ndcg, epoch, copy.deepcopy(self.net.state_dict())
            elapsed = time.monotonic() - started
            bar.set_postfix(loss=f"{loss:.3f}", valid_ndcg10=f"{ndcg:.4f}", best_epoch=best_epoch)
            if store is not None and run:
                store.log_steps(run, epoch, {"loss": loss, "valid_ndcg@10": ndcg, "elapsed_s": elapsed})
            if epoch - best_epoch >= cfg.patience:
                break
        bar.close()
        if best_state is not None:
            self.net.load_state_dict(best_state)
        return {"epochs": epoch, "best_epoch": best_epoch, "valid_ndcg@10": best,
                "train_seconds": time.monotonic() - started}

    def save(self, path: str | Path) -> Path:
        with atomic_path(path) as tmp:
            torch.save({"state_dict": self.net.state_dict(), "config": asdict(self.config),
                        "item_ids": self.item_ids, "max_len": self.max_len}, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "SASRec":
        """A saved model, ready to score (a missing or corrupted file is a one-line error)."""
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            model = cls(saved["item_ids"], saved["max_len"], SASRecConfig(**saved["config"]))
            model.net.load_state_dict(saved["state_dict"])
        except (OSError, RuntimeError, KeyError, TypeError, pickle.UnpicklingError) as exc:
            raise SidLensError(f"cannot load SASRec weights from {path}: {exc}") from None
        return model


def run_sasrec(store: Store, split: Split, config: SASRecConfig | None = None,
               name: str = RUN_NAME) -> dict[str, dict]:
    """Train SASRec on `split`, save its weights, evaluate and store it as run `name`."""
    config = config or SASRecConfig()

    def fit(run: str):
        model = SASRec(list(split.dataset.items), split.window, config)
        facts = model.fit(split, store, run)
        return model, str(model.save(data_dir() / "runs" / run / "model.pt")), facts

    return run_baseline(store, name, split, config, fit)
