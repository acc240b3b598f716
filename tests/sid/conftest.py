"""Fixtures of the SID tests: offline model loading, one thread, clustered toy embeddings."""
from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def clustered() -> np.ndarray:
    """400 unit vectors in 24 dims around 12 centres (what sentence embeddings look like, small)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(12, 24))
    x = centres[rng.integers(0, 12, 400)] + 0.35 * rng.normal(size=(400, 24))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
