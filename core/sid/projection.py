"""UMAP projection of the item embeddings, for the Codebook space page.

The page draws every item in 2D (or 3D) so an analyst can see whether items that share SID
prefixes sit together in embedding space. UMAP on 1,682 x 384 takes tens of seconds on a CPU
(most of it numba compiling on first use), so each projection is computed once and cached at
`<dataset dir>/projections/umap-<sid map hash>-<embedding digest>-<dims>d.npy`: a rebuilt SID map
or changed embeddings give a new file, and re-opening the page reads it back in milliseconds.
Cosine distance, because the embeddings are L2-normalised sentence vectors; seeded, so the picture
is the same for everyone.
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np

from core.atomic import atomic_path
from core.errors import SidLensError
from core.paths import dataset_dir
from core.sid.sidmap import SidMap


def cache_file(sidmap: SidMap, embeddings: np.ndarray, dims: int) -> Path:
    digest = hashlib.sha256(np.ascontiguousarray(embeddings, dtype=np.float32).tobytes()).hexdigest()[:12]
    return dataset_dir(sidmap.dataset) / "projections" / f"umap-{sidmap.hash}-{digest}-{dims}d.npy"


def umap_projection(sidmap: SidMap, embeddings: np.ndarray, dims: int = 2, n_neighbors: int = 15,
                    seed: int = 0) -> np.ndarray:
    """[n_items, dims] float32 coordinates, rows in the embeddings' order; cached on disk."""
    if dims not in (2, 3):
        raise SidLensError(f"a projection has 2 or 3 dimensions, not {dims}")
    if len(embeddings) <= n_neighbors:
        raise SidLensError(f"UMAP needs more than {n_neighbors} items, got {len(embeddings)}")
    path = cache_file(sidmap, embeddings, dims)
    if path.exists():
        try:
            cached = np.load(path)
            if cached.shape == (len(embeddings), dims):
                return cached
        except (OSError, ValueError):
            pass  # a damaged cache file only means we recompute
    import umap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by random_state": seeded runs are single-threaded
        coords = umap.UMAP(n_components=dims, n_neighbors=n_neighbors, metric="cosine", random_state=seed,
                           ).fit_transform(embeddings).astype(np.float32)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, coords)
    return coords
