"""The human- and machine-readable record committed next to an adapter.

A checkpoint folder holds, besides the weights and `sidlens.json` (written by
`core.llm.adapter.save_checkpoint`):
- `run.json`: how it was trained (exact command, settings, time, tokens/s, loss start/end, MB);
- `metrics.json`: the evaluations run on it, keyed by split ("test", or "test@100" for the first
  100 users), so a clean clone knows the numbers `python -m core eval` must reproduce;
- `logs.jsonl`: the per-step training logs (loss, rewards, KL...), so the app's training curves
  exist on a clean clone too;
- `README.md`: run.json and metrics.json rendered as text (regenerated whenever either changes).
The store is rebuilt from these files on a clean clone (`core.runs.resolve_run`).
"""
from __future__ import annotations

import json
from pathlib import Path

from core.atomic import read_jsonl, write_json, write_jsonl, write_text

RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"
LOGS_FILE = "logs.jsonl"
README_FILE = "README.md"
METRIC_ORDER = ["hr@1", "hr@5", "hr@10", "ndcg@1", "ndcg@5", "ndcg@10", "invalid_rate", "cand20_hr@1",
                "cand20_prompted_hr@1", "cand20_valid_ratio", "cand20_prompted_lik_hr@1", "align_sid_to_title",
                "align_title_to_sid", "align_title_to_sid_l1", "align_genres_f1"]


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def read_run(ckpt_dir) -> dict:
    return _read(Path(ckpt_dir) / RUN_FILE)


def read_metrics(ckpt_dir) -> dict:
    return _read(Path(ckpt_dir) / METRICS_FILE)


def write_logs(ckpt_dir, store, run: str) -> None:
    """The run's per-step logs from the store into the folder's `logs.jsonl` (rows run, step, key, value)."""
    write_logs_rows(ckpt_dir, store.rows("run_logs", "run = ?", [run], order_by="step, key"))


def write_logs_rows(ckpt_dir, rows: list[dict]) -> None:
    write_jsonl(Path(ckpt_dir) / LOGS_FILE, rows)


def read_logs(ckpt_dir, run: str) -> list[dict]:
    """The folder's logged steps as run_logs rows of `run` (the folder's name, whatever run wrote them)."""
    return [{**row, "run": run} for row in read_jsonl(Path(ckpt_dir) / LOGS_FILE)]


def lineage(parent_record: dict, parent_metrics: dict) -> list[dict]:
    """The chain of runs a continued checkpoint grew from, oldest first: each with its command(s),
    steps, time, notes and the metrics measured on it, so the card keeps every command that made it."""
    earlier = list(parent_record.get("continues", []))
    if parent_record:
        keep = ("run", "command", "ship_command", "steps", "train_seconds", "precision", "loss_first", "loss_last", "notes",
                "git_commit", "created")
        earlier.append({**{k: parent_record[k] for k in keep if k in parent_record}, "metrics": parent_metrics})
    return earlier


def write_run(ckpt_dir, record: dict) -> None:
    write_json(Path(ckpt_dir) / RUN_FILE, record)
    render(ckpt_dir)


def add_metrics(ckpt_dir, split_key: str, metrics: dict, users: int, seconds: float) -> None:
    """Record one evaluation in `metrics.json` (replacing an earlier one of the same split key)."""
    all_metrics = read_metrics(ckpt_dir)
    all_metrics[split_key] = {**metrics, "users": users, "seconds": round(seconds, 1)}
    write_json(Path(ckpt_dir) / METRICS_FILE, all_metrics)
    render(ckpt_dir)


def _commands(step: dict) -> list[str]:
    """The command that trained a step and, when it was shipped under another name, the ship command."""
    return [step.get("command", ""), *([step["ship_command"]] if step.get("ship_command") else [])]


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def render(ckpt_dir) -> Path:
    """Write README.md from run.json and metrics.json."""
    ckpt_dir = Path(ckpt_dir)
    run, metrics = read_run(ckpt_dir), read_metrics(ckpt_dir)
    name = run.get("run", ckpt_dir.name)
    lines = [f"# Checkpoint `{name}`", ""]
    if run:
        lines += [f"Stage `{run.get('stage')}` on `{run.get('dataset')}` from base model `{run.get('base_model')}` "
                  f"(git commit `{run.get('git_commit') or 'unknown'}`).", "",
                  "Produced by:", "", "```", *[c for step in run.get("continues", []) for c in _commands(step)],
                  *_commands(run), "```", ""]
        if run.get("continues"):
            lines += ["The commands above ran in this order, each continuing the adapter the one before it wrote "
                      "(`--init-from`); what each earlier one measured:", ""]
            for step in run["continues"]:
                lines.append(f"- `{step.get('command', '')}`: {step.get('steps')} steps, {step.get('train_seconds')} s, "
                             f"loss {_fmt(step.get('loss_first'))} -> {_fmt(step.get('loss_last'))}; metrics "
                             + json.dumps({k: {m: v for m, v in ms.items() if m in ('hr@10', 'ndcg@10', 'users')
                                               or m.startswith('align_')}
                                           for k, ms in (step.get("metrics") or {}).items()}, sort_keys=True))
            lines.append("")
        lines += [

                  "| training | value |", "|---|---|"]
        for key in ("device", "machine", "threads", "precision", "steps", "examples", "train_seconds", "tokens", "tokens_per_s",
                    "loss_first",
                    "loss_last", "stopped_early", "adapter_mb"):
            if key in run:
                lines.append(f"| {key} | {_fmt(run[key])} |")
        lines += ["", "Settings:", "", "```json", json.dumps(run.get("settings", {}), indent=1, sort_keys=True), "```",
                  ""]
        if run.get("notes"):  # free-text facts about how the run went, added by whoever ran it
            lines += ["## Notes", ""] + [f"- {note}" for note in run["notes"]] + [""]
    if metrics:
        keys = [k for k in METRIC_ORDER if any(k in m for m in metrics.values())]
        lines += ["## Evaluation", "", "Leave-one-out, all items ranked by constrained beam search, history excluded. "
                  "Reproduce with `python -m core eval --run " + name + " --split SPLIT [--users N] --json`; "
                  "split align (align@N) "
                  "is the alignment probe: `python -m core eval --run " + name + " --probe alignment [--items N]`.", "",
                  "| split | users | " + " | ".join(keys) + " | seconds |",
                  "|---" * (len(keys) + 3) + "|"]
        for split_key, m in sorted(metrics.items()):
            lines.append(f"| {split_key} | {m.get('users')} | " + " | ".join(_fmt(m.get(k, "")) for k in keys)
                         + f" | {m.get('seconds', '')} |")
        lines.append("")
    return write_text(ckpt_dir / README_FILE, "\n".join(lines))
