"""The path past one machine, exercised: two DDP processes on the CPU (torchrun, gloo) run
the SFT on the tiny model; both processes finish, the checkpoint and its card are written once,
the loss falls, and it ends near a one-process run with the same global batch."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core.paths import REPO_ROOT
from core.store import Store
from core.train.sft import train_sft
from tests.train.test_sft import TOY, tiny_settings, world  # noqa: F401  (the fixture)

STEPS = 12


@pytest.mark.slow
def test_two_gloo_processes_train_like_one(world, tmp_path):  # noqa: F811
    env = {**os.environ, "SIDLENS_DB": str(tmp_path / "ddp.db"), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    # torchrun (what `accelerate launch --multi_gpu` runs) with 2 CPU processes: the Trainer's accelerate
    # state joins them with gloo. (`accelerate launch --cpu --num_processes 2` starts one process
    # unless an MPI hostfile is given.)
    # ("--" ends torchrun's own options: without it its parser takes `--run` for its `--run-path`)
    env["PYTHONPATH"] = str(REPO_ROOT)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "--",
               str(REPO_ROOT / "core" / "__main__.py"), "train", "sft", "--dataset", TOY, "--base-model", world.base,
               "--run", "ddp",
               "--tasks", "1,2", "--max-examples", "64", "--max-steps", str(STEPS), "--batch-size", "2",
               "--learning-rate", "2e-2", "--warmup-steps", "0", "--logging-steps", "1", "--save-steps", "100",
               "--lora-r", "4", "--lora-alpha", "8", "--dtype", "fp32", "--json"]
    done = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    store = Store(str(tmp_path / "ddp.db"))
    ddp = [r["value"] for r in store.rows("run_logs", "run = 'ddp' and key = 'loss'", order_by="step")]
    assert [r["step"] for r in store.rows("run_logs", "run = 'ddp' and key = 'loss'", order_by="step")] == \
        list(range(1, STEPS + 1))  # one process logged, every step once
    assert store.run("ddp")["status"] == "done"
    ckpt = world.checkpoints / "ddp"
    record = json.loads((ckpt / "run.json").read_text())
    assert record["steps"] == STEPS and record["processes"] == 2 and (ckpt / "adapter_model.safetensors").is_file()
    assert not list(ckpt.glob("*.tmp*"))  # written once, completely
    one = train_sft(tiny_settings(world, run="one", max_steps=STEPS, batch_size=4, dtype="fp32"), Store())
    single = [r["value"] for r in Store().rows("run_logs", "run = 'one' and key = 'loss'", order_by="step")]
    assert sum(ddp[-3:]) / 3 < sum(ddp[:3]) / 3 - 0.5  # it learns
    # the same global batch (2 processes x 2 = 4): the curves end close (data order differs, so loosely)
    assert abs(sum(ddp[-3:]) - sum(single[-3:])) / 3 < 0.35 * max(sum(single[-3:]) / 3, 1.0), (ddp, single, one)
