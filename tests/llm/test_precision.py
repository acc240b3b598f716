"""The precision choice: an explicit request wins, auto follows the measured probe, nonsense is refused."""
from __future__ import annotations

import pytest
import torch

from core.errors import SidLensError
from core.llm.precision import MIN_SPEEDUP, choose_precision, machine, probe


def test_explicit_and_auto_choices():
    assert choose_precision("fp32", "cpu") == "fp32"
    assert choose_precision("bf16", "cpu") == "bf16"
    measured = probe()
    assert measured["fp32_s"] > 0 and measured["bf16_s"] > 0
    assert choose_precision("auto", "cpu") == ("bf16" if measured["speedup"] >= MIN_SPEEDUP else "fp32")


def test_unknown_precision_is_refused():
    with pytest.raises(SidLensError, match="unknown precision 'fp8'"):
        choose_precision("fp8", "cpu")


def test_machine_names_the_cpu_model_and_its_bf16_flags():
    """Run records and cards say what computed them: the CPU's model name from /proc/cpuinfo and which of
    the flags that decide bf16's speed it has."""
    from pathlib import Path

    info = Path("/proc/cpuinfo")
    if not info.exists():
        pytest.skip("no /proc/cpuinfo on this system")
    text = info.read_text()
    name = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name"))
    described = machine()
    assert described.startswith(name + " (")
    assert ("avx2" in described) == ("avx2" in text.split())


def test_autocast_is_bf16_only_when_asked():
    from core.llm.precision import autocast

    a, b = torch.randn(4, 8), torch.randn(8, 3)
    with autocast("cpu"):
        assert (a @ b).dtype == torch.bfloat16
    with autocast("cpu", bf16=False):
        assert (a @ b).dtype == torch.float32
