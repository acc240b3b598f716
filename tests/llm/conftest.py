"""Fixtures of the LM tests: no hub access, few threads (the machine is shared), a toy SID map."""
from __future__ import annotations

import pytest
import torch

from core.sid.sidmap import SidMap


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def toy_sidmap() -> SidMap:
    """40 items over a 3-level 8x8x4 codebook, every SID distinct."""
    return SidMap("toy", "rqkmeans", [8, 8, 4], {str(i): (i % 8, (i // 8) % 8, i % 4) for i in range(40)})
