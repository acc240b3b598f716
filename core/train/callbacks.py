"""Trainer callbacks shared by every stage.

- `StoreLogger` writes every Trainer log (loss, learning rate, tokens, tokens/s) to the store's
  `run_logs` as it happens, so the loss curve is stored with the run and pages can draw it live.
- `TimeLimit` stops training cleanly after a wall-clock budget; the caller still saves the adapter,
  so a deadline gives a usable (if less trained) checkpoint instead of nothing.
- `ReleaseMemory` hands the heap's free pages back to the OS after every step (glibc `malloc_trim`).
Under `accelerate launch` (several processes) only the main process writes logs, and the processes
agree on when to stop (the one that is out of time stops them all), so none waits forever for another.
"""
from __future__ import annotations

import time

from transformers import TrainerCallback

from core.store import Store
from core.train.common import release_freed_memory

LOGGED_KEYS = {"loss": "loss", "learning_rate": "lr", "num_tokens": "tokens", "mean_token_accuracy": "accuracy",
               "grad_norm": "grad_norm"}


class StoreLogger(TrainerCallback):
    """Each Trainer log becomes rows of `run_logs` (keys: loss, lr, tokens, accuracy, grad_norm, tokens_per_s)."""

    def __init__(self, store: Store, run: str):
        self.store, self.run = store, run
        self.started = None
        self.history: list[dict] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero:
            return
        values = {name: logs[key] for key, name in LOGGED_KEYS.items() if key in (logs or {})}
        if "tokens" in values:  # TRL counts the tokens seen by this process (prompt and completion)
            values["tokens_per_s"] = values["tokens"] / max(time.perf_counter() - self.started, 1e-9)
        if values:
            self.history.append({"step": state.global_step, **values})
            self.store.log_steps(self.run, state.global_step, values)


class TimeLimit(TrainerCallback):
    """Ask the Trainer to stop (after the current step) once `minutes` of wall-clock time have passed."""

    def __init__(self, minutes: float | None):
        self.seconds = None if minutes is None else minutes * 60
        self.started = None
        self.stopped_early = False

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self.seconds is not None and _any_process(time.perf_counter() - self.started > self.seconds, args.device):
            self.stopped_early = True
            control.should_training_stop = True
            control.should_save = True


class ReleaseMemory(TrainerCallback):
    """After each optimizer step, return the freed heap pages to the OS (`release_freed_memory`).

    Why: on the CPU every activation and KV-cache tensor is a malloc, and rollouts or batches of
    varying lengths fragment glibc's heap, so freed memory stays resident until the OOM killer ends
    a long GRPO run (BENCHMARKS.md, 'GRPO memory').
    Trimming once a step keeps the allocator's speed within the step (an mmap threshold would not)."""

    def on_step_end(self, args, state, control, **kwargs):
        release_freed_memory()


def _any_process(flag: bool, device) -> bool:
    """`flag` of this process, or of any process when several train together (torch.distributed)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return flag
    value = torch.tensor([1 if flag else 0], device=device)  # on the backend's device (gloo: CPU, nccl: GPU)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())
