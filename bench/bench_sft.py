"""SFT step throughput on the real SmolLM2-135M (fp32, CPU): batching and loss variants.

    .venv/bin/python bench/bench_sft.py [--threads 1] [--steps 2] [--batch-size 8] [--no-write]

On the same LoRA + SID-row model and the same real ml-100k corpus records (task 1, 20-item
histories), one optimizer step of each variant (median of --steps after one warm-up):
- padded batches, logits only at trained positions (`core.train.sft`'s trainer, the default);
- the same with TRL's stock loss (its fused LM head over every position);
- padding-free batches (one flattened row, TRL's collator) with our loss.
Reports tokens/s (prompt and completion tokens; padding not counted) and wall/CPU seconds. Needs
the ml-100k SID map and corpus (`python -m core sids build`, `python -m core corpus build`).
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_decode  # noqa: E402  (its BENCHMARKS.md section writer)
import torch  # noqa: E402

SECTION = "bench_sft"
VARIANTS = {"padded, logits at trained positions (default)": (False, True),
            "padded, TRL's stock loss": (False, False),
            "padding-free, logits at trained positions": (True, True)}


def run(args) -> dict:
    import datasets
    from trl import SFTTrainer

    from core.llm.adapter import LoraSettings, attach_lora
    from core.llm.backbone import load_base
    from core.llm.sid_tokens import add_sid_tokens
    from core.sid.build import load_sidmap
    from core.train.sft import _trainer_class, _trainer_config, load_records, settings_for

    torch.set_num_threads(args.threads)
    os.environ["HF_HUB_OFFLINE"] = "1"
    sidmap = load_sidmap("ml-100k")
    records = load_records(settings_for("quick", max_examples=args.batch_size * (args.steps + 1)), sidmap)
    out = {"load_before": os.getloadavg()[0], "threads": args.threads, "batch": args.batch_size, "rows": {}}
    for name, (padding_free, ours) in VARIANTS.items():
        model, tokenizer = load_base()
        model = attach_lora(model, add_sid_tokens(model, tokenizer, sidmap), LoraSettings(r=8, alpha=16))
        model.train()
        settings = settings_for("quick", padding_free=padding_free, batch_size=args.batch_size, run="bench-sft")
        cls = _trainer_class() if ours else SFTTrainer
        trainer = cls(model=model, args=_trainer_config(settings, "cpu"), train_dataset=datasets.Dataset.from_list(records),
                      processing_class=tokenizer)
        trainer.create_optimizer_and_scheduler(num_training_steps=args.steps + 1)
        walls, cpus, tokens = [], [], []
        for i, batch in enumerate(trainer.get_train_dataloader()):
            if i > args.steps:
                break
            w, c = time.perf_counter(), time.process_time()
            loss = trainer.compute_loss(model, dict(batch))
            loss.backward()
            trainer.optimizer.step()
            trainer.optimizer.zero_grad()
            if i:  # the first step warms up
                walls.append(time.perf_counter() - w)
                cpus.append(time.process_time() - c)
                mask = batch.get("attention_mask")
                tokens.append(int(mask.sum()) if mask is not None else batch["input_ids"].numel())
        wall, cpu, tok = statistics.median(walls), statistics.median(cpus), statistics.median(tokens)
        out["rows"][name] = {"wall": wall, "cpu": cpu, "tokens": tok}
        print(name, out["rows"][name], flush=True)
    out["load_after"] = os.getloadavg()[0]
    return out


def report(r: dict) -> str:
    base = next(iter(r["rows"].values()))
    lines = ["## SFT step throughput (bench/bench_sft.py)", "",
             f"`.venv/bin/python bench/bench_sft.py` on {datetime.date.today()}; machine: 2-core CPU ({platform.machine()}, "
             f"shared), torch {torch.__version__}, {r['threads']} thread(s), fp32; SmolLM2-135M + LoRA r=8 + SID rows, "
             f"batches of {r['batch']} real ml-100k recommendation records (20-item histories). Load average "
             f"{r['load_before']:.1f} at the start, {r['load_after']:.1f} at the end (other jobs share the cores: wall "
             "figures are noisy; CPU time is this process's own).", "",
             "| variant | tokens/step | wall s/step | tokens/s (wall) | CPU s/step | tokens/CPU-s | vs default (CPU) |",
             "|---|---|---|---|---|---|---|"]
    for name, x in r["rows"].items():
        lines.append(f"| {name} | {x['tokens']} | {x['wall']:.1f} | {x['tokens'] / x['wall']:.0f} | {x['cpu']:.1f} | "
                     f"{x['tokens'] / x['cpu']:.0f} | {base['cpu'] / x['cpu']:.2f}x |")
    return "\n".join(lines + [""])


def arguments(parser: argparse.ArgumentParser) -> None:
    """This script's options (besides --no-write, which every bench script has)."""
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per variant after one warm-up")
    parser.add_argument("--batch-size", type=int, default=8, help="sequences per step")


def main() -> None:
    bench_decode.bench_main(__doc__, SECTION, arguments, run, report)


if __name__ == "__main__":
    main()
