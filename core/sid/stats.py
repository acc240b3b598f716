"""Codebook statistics: how well a SID map uses its codes.

Per level: codebook size, codes used, utilisation (used / size), perplexity (exp of the entropy of
the code distribution: K when every code is equally used, 1 when one code takes everything, so it
is never above `used`), items per used code, and the number of distinct prefixes down to that
level (how finely the tree has split the catalogue). Over the whole map: items, unique SIDs,
collision rate ((items - unique) / items), and the tokenizer's reconstruction error when given.
"""
from __future__ import annotations

import numpy as np

from core.sid.collisions import collision_rate
from core.sid.sidmap import LEVEL_LETTERS, SidMap


def perplexity(counts: np.ndarray) -> float:
    counts = np.asarray(counts, dtype=np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(np.exp(-(p * np.log(p)).sum())) if len(p) else 0.0


def codebook_stats(source: SidMap | np.ndarray, codebook_sizes: list[int] | None = None,
                   reconstruction_error: float | None = None) -> dict:
    """Statistics of a SidMap, or of a codes array [n_items, levels] with its `codebook_sizes`
    (default: largest code + 1 at each level)."""
    if isinstance(source, SidMap):
        codes = np.array(list(source.codes.values()), dtype=np.int64).reshape(-1, source.levels)
        codebook_sizes = codebook_sizes or list(source.codebook_sizes)
    else:
        codes = np.asarray(source, dtype=np.int64)
    n, depth = codes.shape
    sizes = list(codebook_sizes) if codebook_sizes else [int(codes[:, lv].max()) + 1 if n else 0 for lv in range(depth)]
    if len(sizes) != depth:
        raise ValueError(f"{len(sizes)} codebook sizes for codes of {depth} levels")
    levels = []
    for lv in range(depth):
        counts = np.bincount(codes[:, lv], minlength=sizes[lv])
        used = counts[counts > 0]
        levels.append({
            "level": lv, "letter": LEVEL_LETTERS[lv], "codes": sizes[lv], "used": int(len(used)),
            "utilisation": len(used) / sizes[lv] if sizes[lv] else 0.0, "perplexity": perplexity(counts),
            "items_per_code": {"min": int(used.min()) if len(used) else 0, "mean": float(used.mean()) if len(used) else 0.0,
                               "max": int(used.max()) if len(used) else 0},
            "prefixes": int(len(np.unique(codes[:, :lv + 1], axis=0))) if n else 0,
        })
    unique = int(len(np.unique(codes, axis=0))) if n else 0
    out = {"items": int(n), "unique_sids": unique, "collision_rate": collision_rate(codes), "levels": levels}
    if reconstruction_error is not None:
        out["reconstruction_error"] = float(reconstruction_error)
    return out
