"""The precision choice: an explicit request wins, auto follows the measured probe, nonsense is refused."""
from __future__ import annotations

import pytest

from core.errors import SidLensError
from core.llm.precision import MIN_SPEEDUP, choose_precision, probe


def test_explicit_and_auto_choices():
    assert choose_precision("fp32", "cpu") == "fp32"
    assert choose_precision("bf16", "cpu") == "bf16"
    measured = probe()
    assert measured["fp32_s"] > 0 and measured["bf16_s"] > 0
    assert choose_precision("auto", "cpu") == ("bf16" if measured["speedup"] >= MIN_SPEEDUP else "fp32")


def test_unknown_precision_is_refused():
    with pytest.raises(SidLensError, match="unknown precision 'fp8'"):
        choose_precision("fp8", "cpu")
