"""Stage-1 SFT: teach the LM the SID vocabulary on the alignment corpus, with TRL's SFTTrainer.

    python -m core train sft --dataset ml-100k --preset quick      # task 1 from the base model, under an hour
    python -m core train sft --dataset ml-100k --preset align      # continue the shipped sft on the multi-task mix
    python -m core train sft --dataset ml-100k --preset full       # see PRESETS["full"] for its cost
    accelerate launch -m core train sft --dataset ml-100k --preset full --base-model Qwen/Qwen3-1.7B

What happens: the base LM gets one token per SID code (rows initialised from the item texts, see
`core.llm.sid_tokens`), LoRA on every projection plus the SID rows trainable (`core.llm.adapter`),
or, with `--init-from RUN`, that run's adapter is loaded and trained on. The rows
(`core.train.sft_data`) are the corpus's chat records with loss on the completion (the prompt is
context, not something to imitate) plus, by default, on every SID of the prompt's history
(`history_loss`), and with `--item-facts-epochs` the catalogue facts packed many to a row
(`core.corpus.facts`). Only the trained positions go through the vocabulary projection
(`_trainer_class`). Gradient checkpointing is off (the model is small; it only costs time);
precision is bf16 autocast where `core.llm.precision` measures it faster (a GPU with bf16, a CPU
with native bf16 kernels), else fp32.

Batching: padded batches by default. `padding_free` flattens a batch into one row (TRL's collator;
transformers then masks attention per sequence from the position ids). bench/bench_sft.py measured
it at 1.07x the CPU throughput of padded batches of 8 (one step, noisy), while a batch of 16 (one
~3,200-token row) needed ~7.5 GB of attention activations and ran far slower under load: sdpa on
CPU has no variable-length kernel, so the flattened row's attention is quadratic in the batch's
total length. The corpus's recommendation prompts have near-equal lengths, so padding wastes
little; padding-free is for GPUs with flash attention. Computing logits only at trained positions
(below) was the larger win: 1.41x over TRL's stock loss in the same benchmark.

Intermediate Trainer checkpoints go to `<data dir>/runs/<run>/` (re-running the same command
resumes from the last one); the loss curve goes to the store as it is logged. At the end the small
adapter (LoRA + SID rows, a few MB) is written to `data/checkpoints/<run>/` with `run.json` and a
README holding the exact command, settings, time and tokens/s, and the run is registered in the store.

Differences from the paper (MiniOneRec / SID reasoning stage 1): a 135M model with LoRA instead of
a full fine-tune of a 1.5B+ model, and the quick preset sees 3,600 recommendation sequences (task 1
only, dense history loss) instead of several epochs of the whole corpus: it is sized to the 2-core
CPU budget, and the full preset is the faithful setting. What made the CPU budget enough was the
SID rows' initialisation (`core.llm.sid_tokens`): with rows that all looked alike, 160 steps left
the next-code loss at levels b and c uniform (HR@10 0.01 on 100 test users); with distinguishable
rows the 450-step quick preset ends at loss 1.94 and beats popularity on the 943 test users.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from core.errors import SidLensError
from core.llm.prompts import DEFAULT_WINDOW
from core.runs import card, relative_to_repo, resolve_repo_path
from core.store import Store
from core.train.common import resume_point, run_dir
from core.train.stage import TrainerSettings, finish_stage, loss_ends, run_trainer, start_stage

STAGE = "sft"
GENRE_SHARE = 0.25  # SID->genres facts per title fact: genres are also stated by every item narrative (task 5)


@dataclass
class SFTSettings(TrainerSettings):
    # the step budget may change on resume: re-running with a larger --max-steps extends a run (the
    # cosine schedule is rebuilt for the new total and continues from the saved step)
    NOT_IDENTITY = TrainerSettings.NOT_IDENTITY | {"max_steps"}

    run: str = field(default="sft", metadata={"help": "run name (store key, checkpoint folder name)"})
    dataset: str = field(default="ml-100k", metadata={"help": "prepared dataset whose corpus and SID map are used"})
    base_model: str | None = field(default=None, metadata={
        "help": "base LM: None = embedded SmolLM2-135M-Instruct, or a local HF folder / hub name"})
    tasks: tuple[int, ...] = field(default=(), metadata={"help": "corpus tasks to train on (empty = all)"})
    max_examples: int = field(default=0, metadata={"help": "first N corpus records of those tasks (0 = all)"})
    task_examples: str = field(default="", metadata={
        "help": "first N records of a task, written TASK=N,... (e.g. 8=1000): those tasks take their own count "
                "instead of a part of --max-examples, so a small task can get a larger share of the mix"})
    max_steps: int = field(default=-1, metadata={"help": "optimizer steps (-1: epochs decide)"})
    epochs: float = field(default=1.0, metadata={"help": "passes over the examples when max_steps is -1"})
    learning_rate: float = field(default=1e-3, metadata={"help": "peak learning rate (LoRA and SID rows)"})
    warmup_steps: int = field(default=10, metadata={"help": "linear warm-up steps, then cosine decay"})
    batch_size: int = field(default=16, metadata={"help": "sequences per device per step"})
    grad_accum: int = field(default=1, metadata={"help": "gradient accumulation steps"})
    max_length: int = field(default=512, metadata={
        "help": "truncate longer sequences (padded batching only; corpus prompts are bounded by the window)"})
    padding_free: bool = field(default=False, metadata={
        "help": "flatten each batch into one row, no padding (on CPU sdpa's attention is then quadratic in the "
                "batch's total length: ~1.07x at batch 8, far slower at 16; for GPUs with flash attention)"})
    history_loss: bool = field(default=True, metadata={
        "help": "also train next-SID prediction at every SID of a record's prompt (dense supervision, "
                "core.train.sft_data)"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (scale = alpha / r)"})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout"})
    full_finetune: bool = field(default=False, metadata={"help": "train every weight instead of LoRA (GPU)"})
    init_from: str | None = field(default=None, metadata={
        "help": "continue from this run's adapter (e.g. the shipped sft): its LoRA rank and SID rows are kept, "
                "a new schedule starts; how a run too long for one session goes on in the next"})
    item_facts_epochs: float = field(default=0.0, metadata={
        "help": "also train the catalogue facts (SID->title and title->SID as bare prompts, core.corpus.facts) "
                "this many times over, SID->genres a quarter as often, packed into rows (0 = off)"})
    title_to_sid_share: float = field(default=1.0, metadata={
        "help": "title->SID facts per SID->title fact (title->SID is learnt first, SID->title lags: a "
                "continuation can give the lagging direction more of the steps)"})
    facts_per_row: int = field(default=16, metadata={"help": "catalogue facts packed into one training row"})
    seed: int = field(default=0, metadata={"help": "seed of initialisation and data order"})

    def check(self) -> None:
        super().check()
        if self.init_from and self.full_finetune:
            raise SidLensError("--init-from continues an adapter; it cannot be combined with --full-finetune")
        if self.item_facts_epochs < 0 or self.facts_per_row < 1:
            raise SidLensError("--item-facts-epochs must be >= 0 and --facts-per-row at least 1")
        if self.title_to_sid_share < 0:
            raise SidLensError("--title-to-sid-share must be >= 0")
        counts = self.task_counts()
        if any(n < 0 for n in counts.values()):
            raise SidLensError("--task-examples counts must be >= 0")
        if self.tasks and set(counts) - set(self.tasks):
            raise SidLensError(f"--task-examples names tasks not in --tasks: {sorted(set(counts) - set(self.tasks))}")

    def task_counts(self) -> dict[int, int]:
        """{task: records} given by --task-examples."""
        from core.corpus.records import parse_task_values

        return parse_task_values(self.task_examples, int, "--task-examples")


# quick: 450 steps of 8 sequences, sized to under an hour on an idle 2-core machine (it stops and
# saves at 58 min if the machine is slower); measured figures are in data/checkpoints/sft/run.json.
# Recommendation task only (all its records, the Trainer samples 3,600 of them) with dense history
# loss (see `_trainer_class`), LoRA r=8 (adapter ~5 MB), lr 3e-3.
# align: continue the shipped sft (its LoRA r=8 and SID rows) on the multi-task mix, sized to one
# session's background budget (stopped at 75 min; step times in the sft card and BENCHMARKS.md,
# 'Training precision'): the first 1,200 records of tasks 1, 3 and 5 (about 4:1:1) and 12 passes
# over the SID->title and title->SID facts (3 over SID->genres), 16 facts a row: ~2,840 fact rows of
# ~4,040, so the catalogue gets most of the steps while recommendation keeps being trained. A run too
# long for a session continues in the next from the shipped adapter: `--preset align` again (the card
# records every command of the chain).
# full: the whole 50k corpus for 2 epochs (~6,250 steps of 16, ~12M tokens): days on this CPU,
# well under an hour on one GPU (`accelerate launch`, bf16).
PRESETS: dict[str, dict] = {
    "quick": {"tasks": (1,), "max_examples": 0, "max_steps": 450, "batch_size": 8, "learning_rate": 3e-3,
              "warmup_steps": 10, "lora_r": 8, "lora_alpha": 16, "threads": 2, "max_minutes": 58.0,
              "logging_steps": 5, "save_steps": 50},
    "align": {"init_from": "sft", "tasks": (1, 3, 5), "max_examples": 1200, "item_facts_epochs": 12.0,
              "facts_per_row": 16, "max_steps": 470, "batch_size": 8, "learning_rate": 3e-3, "warmup_steps": 20,
              "threads": 2, "max_minutes": 75.0, "logging_steps": 5, "save_steps": 50},
    "full": {"tasks": (), "max_examples": 0, "max_steps": -1, "epochs": 2.0, "learning_rate": 5e-4,
             "warmup_steps": 100, "save_steps": 500, "logging_steps": 10},
}


def settings_for(preset: str, **overrides) -> SFTSettings:
    """The preset's settings with `overrides` (None values ignored) applied on top."""
    return SFTSettings.from_preset(PRESETS, preset, overrides)


def load_records(settings: SFTSettings, sidmap) -> list[dict]:
    """prompt/completion records of the chosen tasks (the corpus order is already a seeded shuffle):
    the first `max_examples` of the tasks without their own count, the first N of each task with one."""
    from collections import Counter

    from core.corpus.build import read_corpus

    own, taken, shared, out = settings.task_counts(), Counter(), 0, []
    for rec in read_corpus(settings.dataset, sid_map_hash=sidmap.hash):
        task = rec["task"]
        if settings.tasks and task not in settings.tasks:
            continue
        if task in own:
            if taken[task] >= own[task]:
                continue
            taken[task] += 1
        else:
            if settings.max_examples and shared >= settings.max_examples:
                continue
            shared += 1
        out.append({"prompt": rec["prompt"], "completion": rec["completion"]})
    if not out:
        raise SidLensError(f"the corpus of {settings.dataset} has no records of tasks {list(settings.tasks)}")
    return out


def _trainer_class():
    """SFTTrainer whose loss projects onto the vocabulary only where a label is trained.

    With completion-only loss a recommendation example trains ~25 of its ~200 positions, but TRL's
    fused LM head still runs the 49k-word projection (and its backward) at every position: most of
    a step for small models on CPU. Here the model gets `logits_to_keep` = a boolean mask of the
    positions whose next token is a label (transformers slices the hidden states before `lm_head`)
    and the loss is the same token-mean cross-entropy (checked equal to TRL's in the tests). The
    labels themselves come from `core.train.sft_data` (dense history labels included).
    """
    import torch
    from trl import SFTTrainer

    class CompletionOnlySFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels, ids = inputs["labels"], inputs["input_ids"]
            keep = torch.zeros_like(labels, dtype=torch.bool)
            keep[:, :-1] = labels[:, 1:] != -100
            targets = labels[:, 1:][keep[:, :-1]]
            model_inputs = {k: v for k, v in inputs.items() if k not in ("labels", "completion_mask")}
            logits = model(**model_inputs, use_cache=False, logits_to_keep=keep).logits.float()
            logits = logits.reshape(-1, logits.shape[-1])
            count = targets.numel() if num_items_in_batch is None else num_items_in_batch
            loss = torch.nn.functional.cross_entropy(logits, targets, reduction="sum") / torch.as_tensor(count).clamp(min=1)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes
            if model.training:
                mask = inputs.get("attention_mask")
                self._total_train_tokens += int(mask.sum()) if mask is not None else ids.numel()
                self._metrics["train"]["num_tokens"] = [self._total_train_tokens]
                accuracy = (logits.argmax(-1) == targets).float().mean().item() if targets.numel() else 0.0
                self._metrics["train"]["mean_token_accuracy"].append(accuracy)
            return (loss, None) if return_outputs else loss

    return CompletionOnlySFTTrainer


def _trainer_config(settings: SFTSettings, device: str):
    from trl import SFTConfig

    bf16 = settings.bf16(device)
    return SFTConfig(output_dir=str(run_dir(settings.run)), max_steps=settings.max_steps,
                     num_train_epochs=settings.epochs, learning_rate=settings.learning_rate,
                     lr_scheduler_type="cosine", warmup_steps=settings.warmup_steps,
                     per_device_train_batch_size=settings.batch_size,
                     gradient_accumulation_steps=settings.grad_accum, gradient_checkpointing=False,
                     bf16=bf16, use_cpu=device == "cpu", seed=settings.seed, data_seed=settings.seed,
                     padding_free=settings.padding_free,
                     max_length=None if settings.padding_free else settings.max_length,
                     completion_only_loss=True, logging_steps=settings.logging_steps, save_strategy="steps",
                     save_steps=settings.save_steps, save_total_limit=1, report_to="none",
                     dataloader_num_workers=0, disable_tqdm=False)


def train_sft(settings: SFTSettings, store: Store | None = None) -> dict:
    """Train, save the adapter and its card, register the run; returns the run record (run.json)."""
    import datasets
    import torch

    from core.corpus import facts
    from core.corpus.build import corpus_info
    from core.corpus.context import CorpusContext
    from core.data.registry import load_dataset
    from core.llm.adapter import LoraSettings, attach_lora
    from core.llm.backbone import DEFAULT_BASE, load_base, resolve_device
    from core.llm.sid_tokens import add_sid_tokens
    from core.sid.build import load_sidmap
    from core.train.callbacks import ReleaseMemory, StoreLogger, TimeLimit
    from core.train.sft_data import build_rows

    if settings.threads:
        torch.set_num_threads(settings.threads)
    store = store or Store()
    dataset = load_dataset(settings.dataset, store)
    sidmap = load_sidmap(settings.dataset, store)
    records = load_records(settings, sidmap)
    resume = resume_point(settings.run, settings.identity(), settings.restart)
    device = resolve_device().type
    continues: list[dict] = []
    if settings.init_from:  # continue an adapter: its LoRA and SID rows train on, a new schedule starts
        from core.llm.adapter import load_checkpoint
        from core.runs import resolve_run

        parent_ckpt = resolve_repo_path(resolve_run(store, settings.init_from)["checkpoint"])
        parent_record = card.read_run(parent_ckpt)  # read now: run == init_from overwrites the folder
        continues = card.lineage(parent_record, card.read_metrics(parent_ckpt))
        model, tokenizer, meta = load_checkpoint(parent_ckpt, sidmap, merge=False)
        base_name = meta["base_model"]
        new_ids = tokenizer.convert_tokens_to_ids(sidmap.all_tokens())
    else:
        model, tokenizer = load_base(settings.base_model)
        base_name = settings.base_model or DEFAULT_BASE
        new_ids = add_sid_tokens(model, tokenizer, sidmap, item_texts={i: it.text() for i, it in dataset.items.items()})
        model = attach_lora(model, new_ids, LoraSettings(r=settings.lora_r, alpha=settings.lora_alpha,
                                                         dropout=settings.lora_dropout,
                                                         full_finetune=settings.full_finetune))
    model.train()
    pages = []
    if settings.item_facts_epochs:
        epochs = {"sid->title": settings.item_facts_epochs,
                  "title->sid": settings.item_facts_epochs * settings.title_to_sid_share,
                  "sid->genres": settings.item_facts_epochs * GENRE_SHARE}
        pages = facts.pages(CorpusContext(dataset, sidmap), epochs, settings.facts_per_row, seed=settings.seed)
    rows = build_rows(tokenizer, records, pages, frozenset(new_ids) if settings.history_loss else frozenset())
    config = {**settings.identity(), "sid_map_hash": sidmap.hash, "examples": len(records), "fact_rows": len(pages)}
    start_stage(store, settings, stage=STAGE, dataset=settings.dataset, config=config, resume=resume)
    logger, limit = StoreLogger(store, settings.run), TimeLimit(settings.max_minutes or None)
    trainer = _trainer_class()(model=model, args=_trainer_config(settings, device),
                               train_dataset=datasets.Dataset.from_list(rows), processing_class=tokenizer,
                               callbacks=[logger, limit, ReleaseMemory()])
    output, seconds = run_trainer(trainer, store, settings.run, resume)
    tokens = logger.history[-1].get("tokens", 0.0) if logger.history else 0.0
    record = {"stage": STAGE, "dataset": settings.dataset, "base_model": base_name,
              "precision": "bf16" if trainer.args.bf16 else "fp32", "examples": len(records), "fact_rows": len(pages),
              "steps": trainer.state.global_step,
              "train_seconds": round(seconds, 1), "trainer_runtime_s": round(output.metrics.get("train_runtime", 0), 1),
              "tokens": int(tokens), "tokens_per_s": round(tokens / max(seconds, 1e-9), 1), **loss_ends(store, settings.run),
              "stopped_early": limit.stopped_early, "resumed_from": resume and relative_to_repo(resume),
              **({"continues": continues} if continues else {})}
    meta = {"base_model": base_name, "stage": STAGE,
            "window": corpus_info(settings.dataset).get("window", DEFAULT_WINDOW)}
    return finish_stage(trainer.model, tokenizer, sidmap, settings, store, meta=meta, record=record, config=config,
                        summary=("command", "train_seconds", "tokens_per_s", "adapter_mb", "steps"))
