"""UMAP projection: neighbours stay neighbours, and the result is cached per SID map."""
from __future__ import annotations

import numpy as np
import pytest

from core.errors import SidLensError
from core.sid.projection import cache_file, umap_projection
from core.sid.sidmap import SidMap


def _clusters(n_per: int = 40, dim: int = 16, seed: int = 0):
    """Two well-separated groups of unit vectors and a SID map whose level 1 names the group."""
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:2] * 5
    x = np.concatenate([c + rng.normal(size=(n_per, dim)) for c in centres]).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    codes = {str(i): (i // n_per, i % n_per, 0) for i in range(2 * n_per)}
    return x, SidMap("toy", "test", [2, n_per, 1], codes)


@pytest.mark.slow  # UMAP fits twice
def test_projection_keeps_clusters_apart_and_is_cached():
    x, sidmap = _clusters()
    coords = umap_projection(sidmap, x, dims=2)
    assert coords.shape == (80, 2) and np.isfinite(coords).all()
    a, b = coords[:40], coords[40:]
    spread = max(np.linalg.norm(a - a.mean(0), axis=1).mean(), np.linalg.norm(b - b.mean(0), axis=1).mean())
    assert np.linalg.norm(a.mean(0) - b.mean(0)) > 2 * spread
    path = cache_file(sidmap, x, 2)
    assert path.exists()
    np.save(path, coords + 1)  # the cached file is what a second call returns
    assert np.allclose(umap_projection(sidmap, x, dims=2), coords + 1)
    assert cache_file(sidmap, x[::-1].copy(), 2) != path


def test_bad_requests_are_user_errors():
    x, sidmap = _clusters(n_per=5)
    with pytest.raises(SidLensError, match="2 or 3"):
        umap_projection(sidmap, x, dims=4)
    with pytest.raises(SidLensError, match="more than 15 items"):
        umap_projection(sidmap, x)
