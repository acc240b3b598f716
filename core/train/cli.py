"""Commands of the `train` group, one sub-command per training stage.

    python -m core train sft --dataset ml-100k --preset quick [--base-model PATH|NAME] [--run sft] [--max-steps N]

Each stage module contributes a `(name, help, settings dataclass, preset function, train function)`
entry in STAGES; options are generated from the dataclass fields and their help text, so a new
stage (reason, dpo, grpo) is one more entry here.
"""
from __future__ import annotations

import argparse
from dataclasses import fields

from core.cli import print_json
from core.cli_options import add_dataclass_options, dataclass_values
from core.errors import SidLensError
from core.train import grpo, preference, reason, sft

# name -> (help, settings class, settings_for(preset, **overrides), train(settings) -> record)
STAGES = {
    "sft": ("stage-1 SID alignment SFT on the corpus (TRL SFTTrainer, LoRA + SID rows)",
            sft.SFTSettings, sft.settings_for, sft.train_sft, sft.PRESETS),
    "dpo": ("DPO from an SFT checkpoint: the target item against one sampled negative, or labeled pairs "
            "(--pairs); re-running starts the run again", preference.PreferenceSettings, preference.dpo_settings,
            preference.train_preference, preference.PRESETS),
    "sdpo": ("Softmax-DPO from an SFT checkpoint: the target item against K negatives in one softmax; "
             "re-running starts the run again", preference.SDPOSettings, preference.sdpo_settings,
             preference.train_preference, preference.PRESETS),
    "reason": ("reasoning activation from an SFT checkpoint: teacher traces, <think>...</think> then the SID",
               reason.ReasonSettings, reason.settings_for, reason.train_reason, reason.PRESETS),
    "grpo": ("GRPO from a reasoning checkpoint (TRL GRPOTrainer): reward on the SID after </think>, no reasoning labels",
             grpo.GRPOSettings, grpo.settings_for, grpo.train_grpo, grpo.PRESETS),
}
SHOWN = ["run", "steps", "examples", "train_seconds", "tokens_per_s", "loss_first", "loss_last", "adapter_mb"]


def _parse_tasks(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"tasks are comma-separated numbers, e.g. 1,2 (got {text!r})") from None


def _add_options(parser: argparse.ArgumentParser, settings_cls, presets: dict) -> None:
    """One option per settings field; defaults are None so the preset decides what was not given."""
    parser.add_argument("--json", action="store_true", help="print the run record (run.json) as JSON")
    preset_help = next(f.metadata["help"] for f in fields(settings_cls) if f.name == "preset")
    add_dataclass_options(parser, settings_cls, none_defaults=True, default_note="(default: preset's, else {default})",
                          custom={"preset": {"choices": sorted(presets), "default": "quick",
                                             "help": f"{preset_help} (default: quick)"},
                                  "tasks": {"type": _parse_tasks, "metavar": "1,2"}})


def cmd_train(args) -> int:
    _, settings_cls, settings_for, train, _ = STAGES[args.command]
    overrides = dataclass_values(args, settings_cls, skip=("preset",))
    settings = settings_for(args.preset, **overrides)
    if settings.max_steps == 0 or settings.batch_size < 1:
        raise SidLensError("--max-steps must be positive (or -1 for epochs) and --batch-size at least 1")
    record = train(settings)
    if args.json:
        print_json(record)
    else:
        print(f"trained {record['run']}: " + ", ".join(f"{k} {record[k]}" for k in SHOWN[1:] if k in record))
        print(f"adapter and card in {settings.out_dir}")
    return 0


def register(groups) -> None:
    train = groups.add_parser("train", help="train the LM stages (sft, ...)",
                              description="Train a stage; re-running the same command resumes from its last checkpoint.")
    commands = train.add_subparsers(dest="command", metavar="<stage>", required=True)
    for name, (help_text, settings_cls, _, _, presets) in STAGES.items():
        parser = commands.add_parser(name, help=help_text, description=help_text)
        _add_options(parser, settings_cls, presets)
        parser.set_defaults(func=cmd_train)
