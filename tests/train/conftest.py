"""Fixtures of the training tests: offline, one thread, and a toy world for the preference trainers
(a prepared 40-item dataset, its SID map and an SFT-like checkpoint on the tiny model)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from core.data.schema import Dataset, Interaction, Item
from core.sid.sidmap import SidMap
from tests.helpers import lora_checkpoint, save_base
from tests.llm.conftest import offline  # noqa: F401  (autouse: no hub access, one thread)

TOY = "amazon-toy"  # the registry accepts prepared datasets named amazon-*


@pytest.fixture(scope="session")
def toy_sidmap() -> SidMap:
    """40 items over a 3-level 8x8x4 codebook, every SID distinct."""
    return SidMap(TOY, "rqkmeans", [8, 8, 4], {str(i): (i % 8, (i // 8) % 8, i % 4) for i in range(40)})


@pytest.fixture(scope="session")
def toy_dataset() -> Dataset:
    """6 users with 10 distinct items each (user u starts at item 5u), 40 items in all."""
    items = {str(i): Item(str(i), f"Movie {i}", 1990 + i % 10, ("Drama",) if i % 2 else ("Comedy",)) for i in range(40)}
    sequences = {str(u): [Interaction(str(u), str((5 * u + t) % 40), t) for t in range(10)] for u in range(6)}
    return Dataset(TOY, items, {}, sequences, {"item_noun": "movie"})


@pytest.fixture
def toy_world(tmp_path, monkeypatch, toy_sidmap, toy_dataset):
    """The toy dataset prepared in this test's data dir with its SID map, and run `sft`: a tiny
    model with SID tokens and a fresh LoRA saved as a checkpoint in a temporary checkpoints dir."""
    from core.data.registry import save_dataset
    from core.llm.tiny import tiny_model
    from core.runs import card
    from core.sid.build import sidmap_path

    monkeypatch.setenv("SIDLENS_CHECKPOINTS", str(tmp_path / "checkpoints"))
    save_dataset(toy_dataset)
    toy_sidmap.save(sidmap_path(TOY))
    base = save_base(*tiny_model(), tmp_path / "tiny-base")
    # a non-zero LoRA B, so the SFT adapter changes the base's outputs
    sft = lora_checkpoint(base, toy_sidmap, tmp_path / "checkpoints" / "sft", perturb="lora_B",
                          meta={"run": "sft", "stage": "sft", "window": 5})
    card.write_run(sft, {"run": "sft", "stage": "sft", "dataset": TOY})
    return SimpleNamespace(dataset=toy_dataset, sidmap=toy_sidmap, sft=sft, checkpoints=tmp_path / "checkpoints")
