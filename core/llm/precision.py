"""Which precision to compute in, chosen by measuring this machine rather than by its name.

    python -c "from core.llm.precision import probe; print(probe())"

CPUs here differ: some emulate bf16 (several times slower than fp32), others have native bf16
matmul kernels (AVX512-BF16 or AMX) where it is faster. `choose_precision("auto", device)` times a
matmul of the backbone's MLP shape in fp32 and under bf16 autocast on the current threads and picks
bf16 when it is at least `MIN_SPEEDUP` times faster; on CUDA it picks bf16 when the card has it.
`--dtype fp32|bf16` on the commands overrides the probe. The probe costs well under a second and
is measured once per process. BENCHMARKS.md ("Training precision") records what it chose against
fp32 on a real training step. torch is imported inside the functions, so the commands' option
parsers can read `CHOICES` without loading it.
"""
from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

from core.errors import SidLensError

CHOICES = ("auto", "fp32", "bf16")
MIN_SPEEDUP = 1.3  # below this the probe's noise could flip the choice between runs


@lru_cache(maxsize=1)
def probe(size: tuple[int, int, int] = (512, 576, 1536), reps: int = 12) -> dict:
    """{"fp32_s", "bf16_s", "speedup"}: median seconds of one (m x k) @ (k x n) matmul in each precision."""
    import torch

    m, k, n = size
    a, b = torch.randn(m, k), torch.randn(k, n)

    def median_seconds(fn) -> float:
        for _ in range(3):
            fn()
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2]

    def bf16():
        with autocast("cpu"):
            return a @ b

    fp32_s, bf16_s = median_seconds(lambda: a @ b), median_seconds(bf16)
    return {"fp32_s": fp32_s, "bf16_s": bf16_s, "speedup": fp32_s / max(bf16_s, 1e-12)}


def autocast(device: str, bf16: bool = True):
    """The bf16 autocast context every bf16 forward here runs in (a no-op when `bf16` is False).

    Open one per forward, never one around a training loop: autocast keeps its bf16 copy of each
    trainable weight until its context exits, so a loop inside one context forwards the weights it
    first copied while the optimizer moves the fp32 ones."""
    import torch

    return torch.autocast(device, dtype=torch.bfloat16, enabled=bf16)


def choose_precision(requested: str, device: str) -> str:
    """"fp32" or "bf16" for `device` ("cpu" or "cuda"): `requested` unless it is "auto"."""
    import torch

    if requested not in CHOICES:
        raise SidLensError(f"unknown precision {requested!r}: use {', '.join(CHOICES)}")
    if requested != "auto":
        if requested == "bf16" and device == "cuda" and not torch.cuda.is_bf16_supported():
            raise SidLensError("bf16 requested but this CUDA card does not support it")
        return requested
    if device == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if probe()["speedup"] >= MIN_SPEEDUP else "fp32"


@lru_cache(maxsize=1)
def machine() -> str:
    """What computed a run, for its record and card: the CUDA card's name, else the CPU's model name
    with the instruction-set flags that decide bf16's speed (amx_bf16, avx512_bf16, avx2), since the
    CPU model changes between sessions here and a run's speed and precision depend on it."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return "cpu"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "cpu")
    flags = set(info.split())
    found = [flag for flag in ("amx_bf16", "avx512_bf16", "avx2") if flag in flags]
    return f"{name} ({', '.join(found) or 'no avx2'})"
