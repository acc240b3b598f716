"""What every training stage shares: its settings base and its lifecycle.

Settings: `StageSettings` (preset, run name, output folder, threads, time limit, precision) and,
for the stages trained by a TRL Trainer (sft, reason, grpo), `TrainerSettings` (resume, logging
and checkpoint cadence). Each stage's dataclass adds its own fields with help text; the
CLI's options are generated from them (`core.cli_options`), and `check()` (run from
`__post_init__`, so every way of building settings is validated) gives one-line errors.
`from_preset` applies a preset's values and the user's overrides.

Lifecycle, in order: `load_parent` (the run to continue: its row, checkpoint, dataset, SID map,
model), `start_stage` (the run is registered as running; its logs are cleared unless it resumes),
`run_trainer` (train; the run is marked interrupted if that fails), `finish_stage` (adapter saved,
run.json, logs and README written next to it, the run marked done). A stage only builds its data,
its trainer and its record.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import ClassVar

from core.errors import SidLensError
from core.llm.precision import CHOICES
from core.paths import checkpoints_dir
from core.provenance import git_commit
from core.runs import card, relative_to_repo, resolve_repo_path
from core.store import Store, now
from core.train.common import command_line, folder_mb


@dataclass
class StageSettings:
    """Run control every stage shares."""

    # settings that do not change what is learnt (a resumed run may differ in them)
    NOT_IDENTITY: ClassVar[frozenset[str]] = frozenset({"restart", "threads", "max_minutes", "output_dir", "dtype"})

    preset: str = field(default="quick", metadata={"help": "quick (a 2-core CPU) or full (the paper-like run)"})
    run: str = field(default="run", metadata={"help": "run name (store key, checkpoint folder name)"})
    output_dir: str | None = field(default=None, metadata={
        "help": "where the final adapter goes (default: data/checkpoints/<run>)"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0 = torch's default)"})
    max_minutes: float = field(default=0.0, metadata={
        "help": "stop after this many minutes of training and save what was learnt (0 = no limit)"})
    dtype: str = field(default="auto", metadata={
        "help": "compute precision: auto (bf16 where a measured probe finds it faster, core.llm.precision), "
                "fp32 or bf16", "choices": CHOICES})

    def __post_init__(self):
        self.check()

    def check(self) -> None:
        """One-line errors for values a user can get wrong (subclasses extend it)."""
        if self.threads < 0 or self.max_minutes < 0:
            raise SidLensError("--threads and --max-minutes must be >= 0")
        if not self.run or "/" in self.run:
            raise SidLensError(f"--run must be a plain name (it names a folder), not {self.run!r}")
        if self.dtype not in CHOICES:
            raise SidLensError(f"--dtype must be one of {', '.join(CHOICES)}, not {self.dtype!r}")

    def bf16(self, device: str) -> bool:
        """Whether to train under bf16 autocast on `device` (`core.llm.precision` decides `auto`)."""
        from core.llm.precision import choose_precision

        return choose_precision(self.dtype, device) == "bf16"

    @property
    def out_dir(self) -> Path:
        return Path(self.output_dir) if self.output_dir else checkpoints_dir() / self.run

    def identity(self) -> dict:
        """The settings that define the run (recorded in run.json; a resumed run must match them)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if k not in self.NOT_IDENTITY}

    @classmethod
    def from_preset(cls, presets: dict[str, dict], preset: str, overrides: dict):
        """`cls` with the preset's values and the non-None `overrides` on top."""
        if preset not in presets:
            raise SidLensError(f"unknown preset {preset!r} (choose {' or '.join(presets)})")
        unknown = sorted(set(overrides) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {', '.join(unknown)}")
        return replace(cls(preset=preset), **{**presets[preset], **{k: v for k, v in overrides.items() if v is not None}})


@dataclass
class TrainerSettings(StageSettings):
    """What the stages trained by a TRL Trainer add: resume, logging and checkpoints."""

    restart: bool = field(default=False, metadata={"help": "discard the run's intermediate checkpoints"})
    logging_steps: int = field(default=5, metadata={"help": "log loss / lr / tokens to the store every N steps"})
    save_steps: int = field(default=50, metadata={"help": "write a resumable Trainer checkpoint every N steps"})

    def check(self) -> None:
        super().check()
        if self.logging_steps < 1 or self.save_steps < 1:
            raise SidLensError("--logging-steps and --save-steps must be at least 1")


def load_parent(store: Store, from_run: str, merge: bool = False):
    """(parent run row, checkpoint dir, dataset, sidmap, model, tokenizer, meta) of the run to continue."""
    from core.data.registry import load_dataset
    from core.llm.adapter import load_checkpoint
    from core.runs import resolve_run
    from core.sid.build import load_sidmap

    parent = resolve_run(store, from_run)
    ckpt = resolve_repo_path(parent["checkpoint"])
    dataset, sidmap = load_dataset(parent["dataset"], store), load_sidmap(parent["dataset"], store)
    model, tokenizer, meta = load_checkpoint(ckpt, sidmap, merge=merge)
    return parent, ckpt, dataset, sidmap, model, tokenizer, meta


def start_stage(store: Store, settings: StageSettings, *, stage: str, dataset: str, config: dict,
                parent: str | None = None, resume=None) -> None:
    """Register the run as running with its `config`; its logs are cleared unless it resumes."""
    store.start_run(settings.run, dataset=dataset, stage=stage, parent=parent, config=config)
    if resume is None:
        store.delete_where("run_logs", "run = ?", [settings.run])


def run_trainer(trainer, store: Store, run: str, resume):
    """`trainer.train()` (resuming when given); the run is marked interrupted if it fails. (output, seconds)."""
    started = time.perf_counter()
    try:
        output = trainer.train(resume_from_checkpoint=resume)
    except BaseException:
        store.finish_run(run, status="interrupted")
        raise
    return output, time.perf_counter() - started


def loss_ends(store: Store, run: str) -> dict:
    """The first and last logged loss of a run (None when nothing was logged)."""
    losses = store.rows("run_logs", "run = ? and key = 'loss'", [run], order_by="step")
    return {"loss_first": losses[0]["value"] if losses else None, "loss_last": losses[-1]["value"] if losses else None}


def finish_stage(model, tokenizer, sidmap, settings: StageSettings, store: Store, *, meta: dict, record: dict,
                 config: dict, summary: tuple[str, ...] = ("command", "train_seconds", "steps", "adapter_mb")) -> dict:
    """Save the adapter with `meta` (its sidlens.json), complete `record` (command, settings, size,
    SID map, git commit, time), write run.json, the logs and the README beside it, and mark the run
    done with `config` plus the record's `summary` keys; returns the record. Under `accelerate launch`
    only the main process does this (the others return `record` as given)."""
    import torch
    from accelerate import PartialState

    from core.llm.adapter import save_checkpoint
    from core.llm.backbone import resolve_device
    from core.llm.precision import machine

    state = PartialState()
    if not state.is_main_process:  # under `accelerate launch` one process writes the checkpoint
        return record
    out_dir = save_checkpoint(model, tokenizer, sidmap, settings.out_dir, meta={"run": settings.run, **meta})
    record = {"run": settings.run, **record, "command": command_line(), "settings": settings.identity(),
              "device": resolve_device().type, "machine": machine(), "threads": torch.get_num_threads(),
              "processes": state.num_processes, "adapter_mb": folder_mb(out_dir),
              "sid_map_hash": sidmap.hash, "git_commit": git_commit(), "created": now()}
    card.write_run(out_dir, record)
    card.write_logs(out_dir, store, settings.run)
    store.finish_run(settings.run, status="done", checkpoint=relative_to_repo(out_dir),
                     config=json.dumps({**config, **{k: record[k] for k in summary if k in record}}))
    return record
