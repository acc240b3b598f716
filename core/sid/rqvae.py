"""RQ-VAE: the learned SID tokenizer of TIGER (Rajput et al., 2023).

An MLP encoder maps an item embedding to a small latent; L residual quantizer levels each pick the
nearest of K codes for what the previous levels left over; an MLP decoder reconstructs the
embedding from the sum of the chosen codes. Loss = reconstruction (squared L2) + per level
||sg[r] - e||^2 + beta * ||r - sg[e]||^2 (codebook and commitment terms); gradients reach the
encoder through the straight-through estimator. Two standard fixes against codebook collapse:
each codebook is initialised by k-means on the first batch's residuals at its level, and codes
unused for `dead_code_steps` steps are re-seeded from random residuals of the current batch.

Differences from the paper: Adam instead of Adagrad, a few hundred epochs instead of 20k (the
1,682-item catalogue converges in seconds on a CPU), and no in-training collision handling
(collisions are resolved afterwards by `core.sid.collisions`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from sklearn.cluster import KMeans
from torch import nn
from tqdm.auto import tqdm

from core.sid.threads import single_threaded


@dataclass
class RQVAEConfig:
    """Defaults sized for MovieLens-100k (1,682 items, 384-dim MiniLM embeddings); see
    `RQKMeansConfig` for why 3 levels of K = 32. Measured on ml-100k (seed 0): K = 32 gave a
    collision rate of 7.9% before resolution, all 32 codes used at every level with perplexities
    29.1 / 29.9 / 31.2, reconstruction error 0.337; K = 64: 2.6%, 57.5 / 58.2 / 60.3, 0.320.
    200 epochs take ~10 s on one idle core (45 s on this 2-core machine under a load of 11);
    100 epochs: collision rate 9.5%, error 0.357."""

    levels: int = field(default=3, metadata={"help": "number of residual quantizer levels (SID length)"})
    codebook_size: int = field(default=32, metadata={"help": "codes per level (K)"})
    latent_dim: int = field(default=32, metadata={"help": "dimension of the quantized latent"})
    hidden_dims: tuple[int, ...] = field(default=(256, 128), metadata={"help": "MLP encoder widths (decoder mirrors)"})
    epochs: int = field(default=200, metadata={"help": "passes over the items"})
    batch_size: int = field(default=256, metadata={"help": "items per step (>= codebook_size for k-means init)"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    beta: float = field(default=0.25, metadata={"help": "commitment loss weight"})
    dead_code_steps: int = field(default=20, metadata={"help": "re-seed a code unused for this many steps"})
    seed: int = field(default=0, metadata={"help": "random seed (init, shuffling, k-means)"})


def _mlp(dims: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class RQVAE(nn.Module):
    """`fit(x)` trains on item embeddings; `encode(x)` -> codes [n, levels]."""

    def __init__(self, input_dim: int, config: RQVAEConfig | None = None):
        super().__init__()
        self.config = cfg = config or RQVAEConfig()
        with torch.random.fork_rng():  # seeded weights without touching the caller's global RNG
            torch.manual_seed(cfg.seed)
            dims = [input_dim, *cfg.hidden_dims, cfg.latent_dim]
            self.encoder, self.decoder = _mlp(dims), _mlp(dims[::-1])
            self.codebooks = nn.Parameter(torch.randn(cfg.levels, cfg.codebook_size, cfg.latent_dim) * 0.01)
        self.register_buffer("last_used", torch.zeros(cfg.levels, cfg.codebook_size, dtype=torch.long))
        self.history: list[dict] = []
        self.dead_code_resets = 0

    def quantize(self, z: torch.Tensor):
        """Residual quantization of latents z -> (quantized sum, codes [n, L], loss, per-level residuals)."""
        residual, quantized, loss = z, torch.zeros_like(z), z.new_zeros(())
        codes, residuals = [], []
        for level in range(self.config.levels):
            codebook = self.codebooks[level]
            chosen = torch.cdist(residual.detach(), codebook.detach()).argmin(1)
            e = codebook[chosen]
            loss = loss + ((residual.detach() - e) ** 2).sum(1).mean() \
                + self.config.beta * ((residual - e.detach()) ** 2).sum(1).mean()
            residuals.append(residual.detach())
            codes.append(chosen)
            quantized = quantized + e
            residual = residual - e.detach()
        return quantized, torch.stack(codes, 1), loss, residuals

    def forward(self, x: torch.Tensor):
        z = self.encoder(x)
        quantized, codes, quant_loss, residuals = self.quantize(z)
        z_st = z + (quantized - z).detach()  # straight-through: decoder sees codes, encoder gets grads
        recon = ((self.decoder(z_st) - x) ** 2).sum(1).mean()
        return recon, quant_loss, codes, residuals

    @torch.no_grad()
    def _kmeans_init(self, x: torch.Tensor) -> None:
        residual = self.encoder(x)
        for level in range(self.config.levels):
            km = KMeans(self.config.codebook_size, n_init=1, random_state=self.config.seed + level)
            km.fit(residual.numpy())
            self.codebooks[level] = torch.from_numpy(km.cluster_centers_).float()
            residual = residual - self.codebooks[level][torch.from_numpy(km.labels_).long()]

    @torch.no_grad()
    def _reset_dead_codes(self, step: int, codes: torch.Tensor, residuals: list[torch.Tensor],
                          gen: torch.Generator) -> None:
        for level in range(self.config.levels):
            self.last_used[level, codes[:, level].unique()] = step
            dead = (step - self.last_used[level] >= self.config.dead_code_steps).nonzero().flatten()
            if len(dead):
                pool = residuals[level]
                pick = torch.randint(len(pool), (len(dead),), generator=gen)
                self.codebooks[level, dead] = pool[pick]
                self.last_used[level, dead] = step
                self.dead_code_resets += len(dead)

    def fit(self, x: np.ndarray) -> "RQVAE":
        with single_threaded():
            return self._fit(x)

    def _fit(self, x: np.ndarray) -> "RQVAE":
        cfg = self.config
        data = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        if len(data) < cfg.codebook_size:
            raise ValueError(f"{len(data)} items cannot fill a codebook of {cfg.codebook_size} codes")
        gen = torch.Generator().manual_seed(cfg.seed)
        batch_size = max(cfg.batch_size, cfg.codebook_size)
        optim = torch.optim.Adam(self.parameters(), lr=cfg.lr)
        self.train()
        step = 0
        bar = tqdm(range(cfg.epochs), desc="RQ-VAE epochs", unit="epoch")
        for _ in bar:
            totals = np.zeros(2)
            for idx in torch.randperm(len(data), generator=gen).split(batch_size):
                batch = data[idx]
                if step == 0:
                    self._kmeans_init(batch)
                recon, quant, codes, residuals = self(batch)
                optim.zero_grad()
                (recon + quant).backward()
                optim.step()
                step += 1
                self._reset_dead_codes(step, codes, residuals, gen)
                totals += [recon.item() * len(idx), quant.item() * len(idx)]
            recon_avg, quant_avg = totals / len(data)
            self.history.append({"recon": float(recon_avg), "quant": float(quant_avg)})
            bar.set_postfix(recon=f"{recon_avg:.4f}", quant=f"{quant_avg:.4f}")
        self.eval()
        return self

    @torch.no_grad()
    def _latent_walk(self, x: np.ndarray):
        z = self.encoder(torch.as_tensor(np.asarray(x), dtype=torch.float32))
        return self.quantize(z)

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self._latent_walk(x)[1].numpy().astype(np.int64)

    @torch.no_grad()
    def last_level_distances(self, x: np.ndarray) -> np.ndarray:
        """Squared latent distance of each item's last residual to every last-level code [n, K]."""
        residual = self._latent_walk(x)[3][-1]
        return (torch.cdist(residual, self.codebooks[-1]) ** 2).numpy()

    @torch.no_grad()
    def decode(self, codes: np.ndarray) -> np.ndarray:
        codes = torch.as_tensor(codes, dtype=torch.long)
        latent = sum(self.codebooks[level][codes[:, level]] for level in range(self.config.levels))
        return self.decoder(latent).numpy()

    def reconstruction_error(self, x: np.ndarray) -> float:
        """Mean squared L2 error of the reconstructed embeddings (per item, summed over dims)."""
        x = np.asarray(x, dtype=np.float32)
        return float(((x - self.decode(self.encode(x))) ** 2).sum(1).mean())

    def state(self) -> dict:
        cfg = asdict(self.config)
        cfg["hidden_dims"] = list(cfg["hidden_dims"])
        return {"config": cfg, "final_loss": self.history[-1] if self.history else None,
                "dead_code_resets": self.dead_code_resets}
