"""Reasoning activation: teach the aligned model the output format `<think>...</think>` + SID.

    python -m core train reason --from sft --preset quick     # ~30 min on 2 CPU cores
    python -m core train reason --from sft --prompt-history facts  # item lines without the counts line
    python -m core train reason --from sft --prompt-history sid  # the paper's SID-only prompt
    python -m core train reason --from sft --teacher openai --teacher-base-url URL --teacher-model NAME

What happens: `examples` training users (one leave-one-out training prefix each, seeded, history
of at least 3 items) get a reasoning trace from the teacher (`MetadataTeacher` offline by default,
any OpenAI-compatible endpoint when configured; its answers are cached in the store). A record is
the canonical recommendation prompt with the think-first instruction (`variant_messages` with
`think`, no profile: the evaluation prompt), by default with each history item written as its title
and year, SID and genres, then one line of counts over those items, the most common genres and decade
(`--prompt-history summary`), and the completion `<think>\\n{trace}\\n</think>{SID}`:
the SID follows `</think>` directly, where the evaluation's constrained search and the app continue.
The teacher sees only what the prompt shows: the last `window` history items, without the user's
profile or ratings (the first traces said "They rated X highest" and counted genres over the whole
history, claims the model cannot check against its prompt and so learns to make up).

Why titles, years and genres in the prompt by default: the traces name history items by title and
SID and state their genres and decades; with these in front of it the student copies what it sees
instead of recalling them from three code tokens (the first reasoning variants, trained from an sft
that could not, wrote "The (1997)" for most items; the next, shown titles without years or genres,
still got most years and genres wrong). The counts line is there for the same reason: the traces'
claims about the whole history ("Drama recurs most", "their taste leans to A and B", "the decade they
watch most") are counts over 20 items, which the facts-prompt student got wrong in a third of its test
traces while it copied item lines almost without error; with the counts in front of it, it copies them
too (the measured flag rates are in the README). The analyst reads all of it. The item lines without
the counts (`--prompt-history facts`), the paper's SID-only prompt (`sid`) and SID-then-title (`title`)
stay selectable; the checkpoint's
`sidlens.json` records which one (`"history"`), and evaluation, the app and GRPO rebuild exactly
that prompt.

Training is the SFT stage's trainer (`core.train.sft`: TRL SFTTrainer, completion-only loss;
padded rather than padding-free batches, see `padding_free`) continued from the parent's adapter:
`load_checkpoint(merge=False)` gives the SFT LoRA and SID rows trainable, so the result is again
one small adapter on the base model that every loader understands; its `sidlens.json` records
`"think": true` (and `"history"`), which tells the evaluation runner and the app to use the think-first prompt and
to reason before searching.

Differences from the paper (SID reasoning's activation step): the traces come from a metadata
teacher rather than a large LLM (pass `--teacher openai` for that), the prompt shows titles, years and genres, and the
quick preset sees one trace per training user, sized to the 2-core CPU budget.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, replace

from core.errors import SidLensError
from core.llm.prompts import DEFAULT_WINDOW, HISTORY_STYLES, history_window
from core.runs import relative_to_repo
from core.store import Store
from core.train.common import resume_point
from core.train.stage import TrainerSettings, finish_stage, load_parent, loss_ends, run_trainer, start_stage

STAGE = "reason"
MIN_HISTORY = 3


@dataclass
class ReasonSettings(TrainerSettings):
    from_run: str = field(default="sft", metadata={"flag": "--from", "help": "run whose adapter training continues"})
    run: str = field(default="reason", metadata={"help": "run name (store key, checkpoint folder name)"})
    teacher: str = field(default="metadata", metadata={"choices": ("metadata", "openai"),
                                                        "help": "who writes the traces: metadata (offline) or openai"})
    teacher_base_url: str | None = field(default=None, metadata={"help": "openai teacher: server URL"})
    teacher_model: str | None = field(default=None, metadata={"help": "openai teacher: model name"})
    examples: int = field(default=256, metadata={"help": "training users that get a trace (one each)"})
    prompt_history: str = field(default="summary", metadata={
        "choices": tuple(HISTORY_STYLES),
        "help": "how the prompt writes the history: summary (each item's title and year, SID and genres, then a line "
                "of genre and decade counts that the traces' claims about the whole history copy), facts (the item "
                "lines alone), title (SID then title) or sid (the paper's SID-only prompt); recorded as the "
                "checkpoint's \"history\""})
    max_steps: int = field(default=-1, metadata={"help": "optimizer steps (-1: epochs decide)"})
    epochs: float = field(default=1.0, metadata={"help": "passes over the traces when max_steps is -1"})
    learning_rate: float = field(default=5e-4, metadata={"help": "peak learning rate (LoRA and SID rows)"})
    warmup_steps: int = field(default=5, metadata={"help": "linear warm-up steps, then cosine decay"})
    batch_size: int = field(default=8, metadata={"help": "sequences per device per step"})
    grad_accum: int = field(default=1, metadata={"help": "gradient accumulation steps"})
    max_length: int = field(default=1024, metadata={"help": "truncate longer sequences (padded batching only)"})
    padding_free: bool = field(default=False, metadata={
        "help": "flatten each batch into one row (off: on CPU, attention over one 2,700-token row kept ~8 GB "
                "for the backward pass and was OOM-killed; padded rows of ~340 tokens need 8x less)"})
    seed: int = field(default=0, metadata={"help": "seed of the sampled users and the data order"})
    logging_steps: int = field(default=1, metadata={"help": "log loss / lr / tokens to the store every N steps"})

    def check(self) -> None:
        super().check()
        if self.examples < 1:
            raise SidLensError(f"--examples must be at least 1, not {self.examples}")
        if self.prompt_history not in HISTORY_STYLES:
            raise SidLensError(f"--prompt-history must be one of {', '.join(HISTORY_STYLES)}, not {self.prompt_history!r}")


# quick: up to 1,024 traces, one per training user (all 943 of ml-100k: 118 steps of 8), ~93-token
# reasonings after titled prompts of ~400 tokens, at lr 2e-3, sized for ~30 min of a 2-core CPU (stops and saves at 35;
# measured figures are in the checkpoint's run.json). The first version (512 traces at 5e-4) left
# the aligned model answering with a SID straight away: the first tokens of every trace, `<think>`
# and "The", still cost 8-11 nats (the SFT puts its mass on SID tokens at the answer position).
# full: 8,000 traces, 2 epochs, a GPU.
PRESETS: dict[str, dict] = {
    "quick": {"examples": 1024, "epochs": 1.0, "learning_rate": 2e-3, "max_minutes": 35.0},
    "full": {"examples": 8000, "epochs": 2.0, "learning_rate": 2e-4, "warmup_steps": 50, "save_steps": 200},
}


def settings_for(preset: str, **overrides) -> ReasonSettings:
    """The preset's settings with `overrides` (None values ignored) applied on top."""
    return ReasonSettings.from_preset(PRESETS, preset, overrides)


def sample_examples(context, n: int, seed: int) -> list:
    """One training prefix (history >= MIN_HISTORY items) for each of `n` seeded users."""
    by_user: dict[str, list] = {}
    for ex in context.train_examples:
        if len(ex.history) >= MIN_HISTORY:
            by_user.setdefault(ex.user_id, []).append(ex)
    rng = random.Random(f"{seed}:reason")
    users = sorted(by_user)
    rng.shuffle(users)
    return [rng.choice(by_user[u]) for u in users[:n]]


def reasoning_records(dataset, sidmap, teacher, n: int, seed: int = 0, window: int = DEFAULT_WINDOW,
                      history: str = "summary", progress: bool = True) -> list[dict]:
    """Conversational prompt/completion records of `n` users' traces (see the module docstring)."""
    from tqdm.auto import tqdm

    from core.corpus.context import CorpusContext
    from core.data.schema import Dataset
    from core.llm.prompts import THINK_END, THINK_START, variant_messages

    # the teacher sees what the prompt shows: no users (no profile), no ratings, the last `window` items
    unrated = {u: [replace(x, rating=None) for x in seq] for u, seq in dataset.sequences.items()}
    context = CorpusContext(Dataset(dataset.name, dataset.items, {}, unrated, dataset.meta), sidmap, window=window)
    examples = sample_examples(context, n, seed)
    if not examples:
        raise SidLensError(f"dataset {dataset.name} has no training histories of {MIN_HISTORY}+ items to reason about")
    records = []
    for ex in tqdm(examples, desc="reasoning traces", unit="trace", disable=not progress):
        trace = teacher.reasoning_trace(ex.user_id, ex.history[-window:], ex.target, context)
        prompt, _ = variant_messages({"window": window, "think": True, "history": history}, sidmap, dataset, ex.history)
        completion = f"{THINK_START}\n{trace.strip()}\n{THINK_END}{sidmap.sid_text(ex.target)}"
        records.append({"prompt": prompt, "completion": [{"role": "assistant", "content": completion}],
                        "user_id": ex.user_id, "target": ex.target})
    return records


def train_reason(settings: ReasonSettings, store: Store | None = None) -> dict:
    """Write the traces, train on them from the parent's adapter, save and register; the run record."""
    import datasets
    import torch

    from core.corpus.teacher import make_teacher
    from core.llm.backbone import resolve_device
    from core.train.callbacks import ReleaseMemory, StoreLogger, TimeLimit
    from core.train.sft import _trainer_class, _trainer_config

    if settings.threads:
        torch.set_num_threads(settings.threads)
    store = store or Store()
    teacher = make_teacher(settings.teacher, **({"base_url": settings.teacher_base_url, "model": settings.teacher_model}
                                                if settings.teacher == "openai" else {}))
    parent, ckpt, dataset, sidmap, model, tokenizer, meta = load_parent(store, settings.from_run)
    started = time.perf_counter()
    records = reasoning_records(dataset, sidmap, teacher, settings.examples, settings.seed,
                                history_window(meta), history=settings.prompt_history)
    teacher_seconds = time.perf_counter() - started
    resume = resume_point(settings.run, settings.identity(), settings.restart)
    model.train()
    config = {**settings.identity(), "parent_checkpoint": relative_to_repo(ckpt), "sid_map_hash": sidmap.hash,
              "examples": len(records)}
    start_stage(store, settings, stage=STAGE, dataset=parent["dataset"], config=config, parent=settings.from_run,
                resume=resume)
    logger, limit = StoreLogger(store, settings.run), TimeLimit(settings.max_minutes or None)
    train_data = datasets.Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in records])
    device = resolve_device().type
    trainer = _trainer_class()(model=model, args=_trainer_config(settings, device),
                               train_dataset=train_data, processing_class=tokenizer, callbacks=[logger, limit, ReleaseMemory()])
    _, seconds = run_trainer(trainer, store, settings.run, resume)
    tokens = logger.history[-1].get("tokens", 0.0) if logger.history else 0.0
    steps = trainer.state.global_step
    record = {**think_record(parent, meta, settings, STAGE, seconds, steps, len(records)),
              "precision": "bf16" if trainer.args.bf16 else "fp32", **loss_ends(store, settings.run),
              "teacher": teacher.name, "teacher_seconds": round(teacher_seconds, 1), "tokens": int(tokens),
              "tokens_per_s": round(tokens / max(seconds, 1e-9), 1), "stopped_early": limit.stopped_early,
              "resumed_from": resume and relative_to_repo(resume)}
    return finish_stage(trainer.model, tokenizer, sidmap, settings, store, record=record, config=config,
                        meta=think_meta(meta, settings, STAGE, history=settings.prompt_history),
                        summary=("command", "train_seconds", "seconds_per_step", "adapter_mb", "steps", "examples"))


def think_meta(parent_meta: dict, settings, stage: str, history: str) -> dict:
    """The sidlens.json of a reasoning variant (reason, grpo): `"think": true` (the think-first
    prompt, reasoning before the search) and `"history"` (how its prompt writes history items,
    core.llm.prompts.HISTORY_STYLES)."""
    return {"base_model": parent_meta["base_model"], "stage": stage, "parent": settings.from_run,
            "window": history_window(parent_meta), "think": True, "history": history}


def think_record(parent: dict, parent_meta: dict, settings, stage: str, seconds: float, steps: int,
                 examples: int) -> dict:
    """The run.json fields reason and grpo share."""
    return {"stage": stage, "parent": settings.from_run, "dataset": parent["dataset"],
            "base_model": parent_meta["base_model"], "steps": steps, "examples": examples,
            "train_seconds": round(seconds, 1), "seconds_per_step": round(seconds / max(steps, 1), 2)}
