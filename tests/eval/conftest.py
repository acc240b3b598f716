"""Real MovieLens-100k for the evaluation tests, read once per session from the shared download cache
(load_ml100k writes nothing to the per-test data directory)."""
from __future__ import annotations

import random

import pytest
import torch

from core.data.movielens import load_ml100k
from core.data.schema import Dataset
from core.data.split import Split
from core.sid.sidmap import SidMap
from tests.train.conftest import offline, toy_dataset, toy_sidmap, toy_world  # noqa: F401  (toy-world fixtures)


@pytest.fixture(scope="session")
def ml100k() -> Dataset:
    return load_ml100k()


@pytest.fixture(scope="session")
def ml100k_split(ml100k) -> Split:
    return Split(ml100k)


@pytest.fixture(scope="session")
def ml100k_slice(ml100k) -> Split:
    """The split of ml-100k's first 200 users (all items kept), for quick training tests."""
    keep = list(ml100k.sequences)[:200]
    return Split(Dataset(ml100k.name, ml100k.items, {u: ml100k.users[u] for u in keep},
                         {u: ml100k.sequences[u] for u in keep}, ml100k.meta))


def toy_sids(item_ids) -> SidMap:
    rng, used, codes = random.Random(0), set(), {}
    for item in sorted(item_ids, key=int):
        sid = (rng.randrange(8), rng.randrange(8), rng.randrange(32))
        while sid in used:
            sid = (rng.randrange(8), rng.randrange(8), rng.randrange(32))
        used.add(sid)
        codes[item] = sid
    return SidMap("ml-100k", "random", [8, 8, 32], codes)


@pytest.fixture
def checkpoint(tmp_path, monkeypatch):
    """A tiny model with SID tokens and a non-zero LoRA saved as committed checkpoint `tiny`."""
    from core.data.registry import load_dataset
    from core.llm.adapter import LoraSettings, attach_lora, save_checkpoint
    from core.llm.sid_tokens import add_sid_tokens
    from core.llm.tiny import tiny_model
    from core.runs import card
    from core.sid.build import sidmap_path

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SIDLENS_CHECKPOINTS", str(tmp_path / "checkpoints"))
    torch.set_num_threads(1)
    sidmap = toy_sids(load_dataset("ml-100k").items)
    sidmap.save(sidmap_path("ml-100k"))
    model, tokenizer = tiny_model(seed=1)
    model.save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    torch.manual_seed(0)
    model = attach_lora(model, add_sid_tokens(model, tokenizer, sidmap), LoraSettings(r=4))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    folder = save_checkpoint(model, tokenizer, sidmap, tmp_path / "checkpoints" / "tiny",
                             meta={"base_model": str(tmp_path / "base"), "run": "tiny", "stage": "sft"})
    card.write_run(folder, {"run": "tiny", "stage": "sft", "dataset": "ml-100k", "command": "test"})
    return folder
