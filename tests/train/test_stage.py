"""The settings base every training stage shares: validation on the object, presets, identity."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from core.errors import SidLensError
from core.train.stage import StageSettings, TrainerSettings


@dataclass
class Toy(TrainerSettings):
    run: str = field(default="toy", metadata={"help": "run name"})
    steps: int = field(default=5, metadata={"help": "optimizer steps"})

    def check(self) -> None:
        super().check()
        if self.steps < 1:
            raise SidLensError("--steps must be at least 1")


PRESETS = {"quick": {"steps": 3, "max_minutes": 10.0}, "full": {"steps": 100}}


def test_presets_and_overrides():
    quick = Toy.from_preset(PRESETS, "quick", {"steps": None, "threads": 2})
    assert (quick.preset, quick.steps, quick.max_minutes, quick.threads) == ("quick", 3, 10.0, 2)
    assert Toy.from_preset(PRESETS, "full", {}).steps == 100
    assert str(quick.out_dir).endswith("checkpoints/toy")
    with pytest.raises(SidLensError, match="unknown preset 'huge'"):
        Toy.from_preset(PRESETS, "huge", {})
    with pytest.raises(ValueError, match="unknown Toy fields: nope"):
        Toy.from_preset(PRESETS, "quick", {"nope": 1})


def test_every_way_of_building_settings_is_validated():
    with pytest.raises(SidLensError, match="--steps"):
        Toy(steps=0)
    with pytest.raises(SidLensError, match="--steps"):
        replace(Toy(), steps=0)
    with pytest.raises(SidLensError, match="--dtype"):
        Toy.from_preset(PRESETS, "quick", {"dtype": "fp16"})
    with pytest.raises(SidLensError, match="--threads"):
        StageSettings(threads=-1)
    with pytest.raises(SidLensError, match="plain name"):
        Toy(run="a/b")


def test_identity_leaves_out_run_control_only():
    a, b = Toy(), Toy(threads=2, max_minutes=5.0, restart=True, dtype="fp32", output_dir="/tmp/x")
    assert a.identity() == b.identity()
    assert "steps" in a.identity() and "threads" not in a.identity()
    assert Toy(steps=7).identity() != a.identity()
