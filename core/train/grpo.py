"""Outcome-driven RL (SID reasoning, stage 2): GRPO on TRL's GRPOTrainer with the rule reward.

    python -m core train grpo --from reason --preset cpu       # the CPU recipe: 36 steps of 2 x 8, about an hour
    python -m core train grpo --from reason --preset quick     # a 12-step smoke run (does not move the policy)
    python -m core train grpo --from reason --group-size 8 --beta 0.04 --temperature 1.0 --max-completion-length 256

What happens: training users (one leave-one-out training prefix each, seeded, as in the reasoning
stage) get the think-first recommendation prompt; for each prompt the policy samples `group_size`
completions (reasoning, `</think>`, SID) at `temperature`; each completion is scored by
`core.train.rewards` (0.25 / 0.5 / 1.0 for matching the target's first / first two / all SID
levels, +0.1 for a real item, 0 when nothing parses); advantages are the rewards standardised
within the group, and the clipped policy-gradient loss (TRL's default DAPO token averaging) is
taken with a KL penalty `beta` towards the reasoning model. No reasoning labels are used.
`--likelihood-reward V` adds a dense outcome reward next to the rule: V x the policy's own mean
token probability of the target's SID right after each completion's reasoning
(`core.train.rewards.LikelihoodReward`), so that groups whose sampled answers all miss the target
still rank their reasonings by how far each one raises it.

The policy is the parent's adapter itself, loaded trainable (`load_checkpoint(merge=False)`), as in
the reasoning and preference stages: the result is one small adapter on the base model. With
`beta > 0` TRL copies that adapter into a frozen "ref" adapter so the reference is the parent, not
the bare base model; TRL copies the LoRA weights but not peft's trainable SID rows (their
parameter names end in `.default` instead of containing `.default.`), so `_sync_reference` copies
those too (tested: the first step's KL is exactly 0). The ref adapter is dropped before saving.

Per step the store gets, besides loss and learning rate (`StoreLogger`): mean reward, reward std,
share of parseable answers, share of exact hits, KL, mean completion length, entropy and the
share of groups whose rewards were all equal (no learning signal). Those step means mix learning
with which users a step drew; `--probe-users N` also scores the same N validation users (greedy
reasoning: the target SID's probability after it and the answer's rule reward) before the first
step, every `--save-steps` and after the last, so the curve of one fixed set shows the learning;
`--keep-best-probe` then saves the adapter of the best of those probes (the parent's, when no step
beat it): early stopping on validation users, for a policy whose probe rises before it falls.
`--scale-rewards`: with the dense likelihood reward most groups' rewards differ by a few hundredths,
which the paper's per-group std scaling (`group`) blows up to unit advantages, noise included;
`batch` divides by the std of the whole step's rewards instead (a group with a hit then weighs more
than one whose samples differ by noise; TRL's `zero_std_groups` log then reads the step's std) and
`none` leaves them unscaled (Dr. GRPO; the KL term then weighs relatively more).
`--reasoning-only-loss` takes the loss over each completion's reasoning only (TRL's loss mask ends at
`</think>`; attention still sees the answer): the likelihood reward scores the target after the
reasoning whatever SID was sampled after it, so the sampled SID's own gradient is noise with respect
to that reward, and a fixed set of probe users showed the target's probability falling as the policy
moved with it in the loss (README, "What GRPO does here").

Why TRL: generation, group advantages, clipping, the KL term and the logging are all there and
run on CPU without vLLM; the only gaps were the reference's SID rows (above) and that
`generation_kwargs` cannot carry `prefix_allowed_tokens_fn`, which is not needed: the answer is
free text and the reward scores what the model really wrote. One thing is replaced: the per-token
log-probs of the loss, the KL reference and any old policy run each group's prompt once, with its
completions as chains on the prompt's cache (`_trainer_class`; TRL runs the prompt once per
completion); same values and gradients as TRL's computation, measured in BENCHMARKS.md
('GRPO log-probs').

Differences from the paper: LoRA on a 135M model, 36 steps of 2 prompts x 8 samples in the
cpu preset (the paper trains a 1.5B+ model for epochs with larger groups); the reward and
its levels are the paper's.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from core.errors import SidLensError
from core.llm.prompts import history_style, history_window
from core.runs import relative_to_repo
from core.store import Store
from core.train.common import mean_of, resume_point, run_dir
from core.train.stage import TrainerSettings, finish_stage, load_parent, loss_ends, run_trainer, start_stage

STAGE = "grpo"
REWARD_KEYS = {"reward": "reward", "reward_std": "reward_std", "parseable": "parseable", "exact": "exact",
               "kl": "kl", "completions/mean_length": "completion_length", "entropy": "entropy",
               "frac_reward_zero_std": "zero_std_groups", "rewards/sid_reward/mean": "sid_reward",
               "grounded": "grounded", "rewards/likelihood_reward/mean": "likelihood_reward",
               "target_prob": "target_prob"}
SCALE_REWARDS = ("group", "batch", "none")  # TRL's advantage scalings (GRPOConfig.scale_rewards)


@dataclass
class GRPOSettings(TrainerSettings):
    # which probe's weights are saved does not change what is learnt: a run started with --keep-best-probe can
    # be resumed without it, which saves its last step's weights
    NOT_IDENTITY = TrainerSettings.NOT_IDENTITY | {"keep_best_probe"}

    from_run: str = field(default="reason", metadata={"flag": "--from", "help": "run whose adapter is the policy's "
                                                      "start and, with beta > 0, the KL reference"})
    run: str = field(default="grpo", metadata={"help": "run name (store key, checkpoint folder name)"})
    max_steps: int = field(default=30, metadata={"help": "optimizer steps"})
    batch_size: int = field(default=2, metadata={"help": "prompts per step (each sampled group_size times)"})
    group_size: int = field(default=4, metadata={"help": "completions sampled per prompt (the GRPO group)"})
    beta: float = field(default=0.04, metadata={"help": "KL coefficient towards the parent (0 = no reference)"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature of the rollouts"})
    max_completion_length: int = field(default=224, metadata={
        "help": "tokens per completion (reasoning + SID); a completion cut before its SID scores 0"})
    learning_rate: float = field(default=3e-5, metadata={"help": "learning rate (LoRA and SID rows)"})
    warmup_steps: int = field(default=2, metadata={"help": "linear warm-up steps, then constant"})
    grounding_reward: float = field(default=0.0, metadata={
        "help": "added to the reward when the reasoning raises no faithfulness flag, its conclusion agreeing with "
                "the answer (core.train.rewards.GroundedReward; 0 = the paper's outcome-only reward)"})
    grounding_needs_level: int = field(default=0, metadata={
        "help": "the grounding bonus also needs the answer to match the target's first N SID levels (0 = any "
                "answer; 1 ties the bonus to the outcome, so clean reasoning before a wrong answer earns nothing)"})
    likelihood_reward: float = field(default=0.0, metadata={
        "help": "added to the reward: this x the policy's mean token probability of the target's SID right after "
                "the completion's reasoning (core.train.rewards.LikelihoodReward: a dense outcome reward; 0 = off)"})
    scale_rewards: str = field(default="group", metadata={
        "choices": SCALE_REWARDS,
        "help": "how advantages are scaled (TRL): by each group's reward std (the paper), by the step's std, or "
                "not at all (Dr. GRPO: a group whose rewards differ by noise then barely moves the policy)"})
    probe_users: int = field(default=0, metadata={
        "help": "validation users scored with greedy reasoning before the first step, every --save-steps steps "
                "and after the last: the target SID's probability after the reasoning and the greedy answer's "
                "rule reward, on the same users each time (probe_target_prob, probe_sid_reward; 0 = off)"})
    keep_best_probe: bool = field(default=False, metadata={
        "help": "save the adapter as it was at the probe with the highest probe_target_prob (step 0, the parent, "
                "included) instead of the last step's: early stopping on the fixed validation users (needs "
                "--probe-users; among this process's probes only; resuming without it saves the last step's)"})
    reasoning_only_loss: bool = field(default=False, metadata={
        "help": "take the policy-gradient and KL terms over each completion's reasoning only (its tokens up to the one "
                "that completes </think>): the SID sampled after it is not itself reinforced or penalised"})
    epsilon: float = field(default=0.2, metadata={"help": "clipping range of the policy ratio"})
    micro_batch: int = field(default=0, metadata={
        "help": "completions per forward/backward pass (0 = all batch_size x group_size at once); smaller lowers "
                "peak memory, the step's rollouts and update stay the same (gradient accumulation)"})
    seed: int = field(default=0, metadata={"help": "seed of the sampled users, data order and sampling"})
    logging_steps: int = field(default=1, metadata={"help": "log rewards, KL and loss to the store every N steps"})
    save_steps: int = field(default=10, metadata={"help": "write a resumable Trainer checkpoint every N steps"})
    use_vllm: bool = field(default=False, metadata={
        "help": "generate the rollouts with vLLM inside the training process (TRL's colocate mode; a GPU and "
                "`pip install vllm` needed; not available on CPU)"})

    def check(self) -> None:
        super().check()
        if self.group_size < 2:
            raise SidLensError(f"--group-size must be at least 2 (advantages compare samples of a group), "
                               f"not {self.group_size}")
        if self.max_completion_length < 8 or self.temperature <= 0 or self.beta < 0:
            raise SidLensError("--max-completion-length must be at least 8, --temperature positive and --beta >= 0")
        total = self.batch_size * self.group_size
        if self.micro_batch < 0 or (self.micro_batch and total % self.micro_batch):
            raise SidLensError(f"--micro-batch must divide the step's {self.batch_size} x {self.group_size} = {total} "
                               f"completions, not {self.micro_batch}")
        if self.grounding_reward < 0:
            raise SidLensError(f"--grounding-reward must be >= 0, not {self.grounding_reward}")
        if self.likelihood_reward < 0:
            raise SidLensError(f"--likelihood-reward must be >= 0, not {self.likelihood_reward}")
        if self.scale_rewards not in SCALE_REWARDS:
            raise SidLensError(f"--scale-rewards must be {', '.join(SCALE_REWARDS)}, not {self.scale_rewards!r}")
        if self.probe_users < 0:
            raise SidLensError(f"--probe-users must be >= 0, not {self.probe_users}")
        if self.keep_best_probe and not self.probe_users:
            raise SidLensError("--keep-best-probe chooses among the probes' scores: pass --probe-users N too")
        if self.grounding_needs_level < 0:
            raise SidLensError(f"--grounding-needs-level must be >= 0, not {self.grounding_needs_level}")
        if self.use_vllm:
            import importlib.util

            if importlib.util.find_spec("vllm") is None:
                raise SidLensError("--use-vllm needs the vllm package (pip install vllm) and a GPU")


# quick: a smoke run (12 steps of 2 prompts x 4 samples at lr 3e-5); it does not move the policy.
# cpu: the CPU recipe that does: groups of 8 (fewer groups whose rewards are all equal, so fewer
# prompts without a learning signal), a LoRA-sized learning rate (LoRA updates need ~10-100x a full
# fine-tune's), completions capped at 176 tokens (above the checkable traces' longest), 36 steps in
# about an hour (a 65-minute cap), a resumable Trainer checkpoint every 6 steps, and the grounding
# reward (0.2, about one level-1 match: without it the conclusion drifted from the answer), the 16
# completions in two passes of 8 (a lower memory peak, BENCHMARKS.md 'GRPO memory'). full is
# the paper-like run for a GPU. Measured figures (KL, rewards, time) are in the grpo card and README.
PRESETS: dict[str, dict] = {
    "quick": {"max_steps": 12, "batch_size": 2, "group_size": 4, "max_completion_length": 224, "max_minutes": 25.0},
    "cpu": {"max_steps": 36, "batch_size": 2, "group_size": 8, "learning_rate": 5e-4, "warmup_steps": 3,
            "max_completion_length": 176, "max_minutes": 65.0, "save_steps": 6, "grounding_reward": 0.2,
            "micro_batch": 8},
    "full": {"max_steps": 1000, "batch_size": 8, "group_size": 8, "learning_rate": 1e-5, "save_steps": 100},
}


def settings_for(preset: str, **overrides) -> GRPOSettings:
    """The preset's settings with `overrides` (None values ignored) applied on top."""
    return GRPOSettings.from_preset(PRESETS, preset, overrides)


def rl_dataset(dataset, sidmap, n: int, seed: int, meta: dict):
    """`n` training users' prompts as the parent (checkpoint `meta`) was trained on them, with their
    target item (column `target` for the reward)."""
    import datasets

    from core.corpus.context import CorpusContext
    from core.llm.prompts import variant_messages
    from core.train.reason import sample_examples

    window = history_window(meta)
    examples = sample_examples(CorpusContext(dataset, sidmap, window=window), n, seed)
    if not examples:
        raise SidLensError(f"dataset {dataset.name} has no training histories to sample prompts from")
    return datasets.Dataset.from_list([
        {"prompt": variant_messages(meta, sidmap, dataset, ex.history)[0],
         "target": ex.target, "user_id": ex.user_id, "history": ex.history[-window:]}
        for ex in examples])


def _reward_logger(store: Store, run: str):
    from transformers import TrainerCallback

    class RewardLogger(TrainerCallback):
        """GRPO's reward statistics of each log to the store's run_logs (keys: REWARD_KEYS' values)."""

        def __init__(self):
            self.history: list[dict] = []

        def on_log(self, args, state, control, logs=None, **kwargs):
            values = {name: logs[key] for key, name in REWARD_KEYS.items() if logs and logs.get(key) is not None}
            if values:
                self.history.append({"step": state.global_step, **values})
                store.log_steps(run, state.global_step, values)

    return RewardLogger()


def probe_scores(model, tokenizer, sidmap, prompts: list[str], targets: list[str], max_new_tokens: int,
                 bf16: bool = False) -> dict[str, float]:
    """Greedy completions of `prompts` (rendered) by `model`: {"probe_target_prob": the mean over them of the
    target's SID probability after the reasoning (`target_likelihoods`, 0 for a reasoning never closed),
    "probe_sid_reward": the mean rule reward of the answer written (`SidReward`), "probe_closed": the share
    that closed `</think>`}. The model is put back in training mode if it was in it."""
    import torch

    from core.decode.inputs import encode_prompts, model_device, pad_token_id
    from core.llm.precision import autocast
    from core.train.rewards import SidReward, target_likelihoods

    training = model.training
    model.eval()
    try:
        with torch.no_grad(), autocast(model_device(model).type, bf16):
            batch = encode_prompts(tokenizer, prompts, model_device(model))
            out = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], do_sample=False,
                                 max_new_tokens=max_new_tokens, pad_token_id=pad_token_id(tokenizer))
            ids = out[:, batch["input_ids"].shape[1]:].tolist()
            probs = target_likelihoods(model, tokenizer, sidmap, prompts, ids, targets)
    finally:
        model.train(training)
    texts = tokenizer.batch_decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    rewards = SidReward(sidmap)(prompts, texts, target=targets)
    return {"probe_target_prob": sum(p or 0.0 for p in probs) / len(probs),
            "probe_sid_reward": sum(rewards) / len(rewards),
            "probe_closed": sum(p is not None for p in probs) / len(probs)}


def _probe(store: Store, settings: GRPOSettings, dataset, sidmap, tokenizer, meta: dict):
    """A callback that runs `probe_scores` on the first `settings.probe_users` validation users before the
    first step (or the resumed one), every `save_steps` steps and after the last, and logs the scores to the
    store at that step. Why: each GRPO step draws other users, so its reward mixes how hard they are with
    what the policy learnt; the same users before and after show the learning alone. With
    `settings.keep_best_probe` it keeps a copy of the trainable weights (LoRA and SID rows, a few MB) at the
    best probe_target_prob so far and puts them back into the model after the last probe (`best`: that
    probe's scores)."""
    from transformers import TrainerCallback

    from core.data.split import Split
    from core.eval.loading import render_prompts

    examples = Split(dataset, window=history_window(meta)).examples("valid")[:settings.probe_users]
    prompts = render_prompts(tokenizer, sidmap, dataset, examples, meta)
    targets = [ex.target for ex in examples]

    class Probe(TrainerCallback):
        def __init__(self):
            self.history: list[dict] = []
            self.best: dict | None = None
            self._weights: dict | None = None

        def _score(self, args, state, model):
            if not state.is_world_process_zero or (self.history and self.history[-1]["step"] == state.global_step):
                return
            scores = probe_scores(model, tokenizer, sidmap, prompts, targets, settings.max_completion_length,
                                  bf16=args.bf16)
            self.history.append({"step": state.global_step, **scores})
            store.log_steps(settings.run, state.global_step, scores)
            if settings.keep_best_probe and (self.best is None
                                             or scores["probe_target_prob"] > self.best["probe_target_prob"]):
                self.best = self.history[-1]
                self._weights = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self._score(args, state, model)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step % settings.save_steps == 0:
                self._score(args, state, model)

        def on_train_end(self, args, state, control, model=None, **kwargs):
            self._score(args, state, model)
            if self._weights is not None and self.best["step"] != self.history[-1]["step"]:
                import torch

                params = dict(model.named_parameters())
                with torch.no_grad():
                    for name, value in self._weights.items():
                        params[name].copy_(value)

    return Probe()


def _sync_reference(model) -> int:
    """Copy every parameter of the "default" adapter that TRL's "ref" copy missed; returns how many."""
    import torch

    if "ref" not in getattr(model, "peft_config", {}):
        return 0
    params = dict(model.named_parameters())
    copied = 0
    with torch.no_grad():
        for name, param in params.items():
            if name.endswith(".default") and name[:-len(".default")] + ".ref" in params:
                params[name[:-len(".default")] + ".ref"].copy_(param)
                copied += 1
    return copied


def reasoning_mask(tokenizer, completion_ids, completion_mask):
    """1 over each completion's reasoning (its tokens up to and including the one that completes `</think>`),
    0 after it; a completion that never closes `</think>` keeps its `completion_mask` whole."""
    from core.eval.traces import think_end_length

    mask = completion_mask.clone()
    for row, (ids, keep) in enumerate(zip(completion_ids.tolist(), completion_mask.tolist())):
        kept = think_end_length(tokenizer, [t for t, k in zip(ids, keep) if k])
        if kept is not None:
            mask[row, kept:] = 0
    return mask


def _ready(trainer, reasoning_only_loss: bool = False) -> None:
    """What a built GRPO trainer needs before it trains (one home for `train grpo` and bench/bench_grpo.py):
    the "ref" adapter synced from the parent (`_sync_reference`), the policy handed to the rewards that
    score with it (`LikelihoodReward.model`: TRL wraps the model at construction, so it exists only now;
    the "default" adapter is active when TRL scores), and whether the loss covers the reasoning only."""
    from core.train.rewards import LikelihoodReward

    trainer.reasoning_only_loss = reasoning_only_loss

    for func in trainer.reward_funcs:
        if isinstance(func, LikelihoodReward):
            func.model = trainer.model
    _sync_reference(trainer.model)


def _trainer_class():
    """TRL's GRPOTrainer with its per-token log-probs computed one prompt per group
    (`core.decode.logps.grouped_token_logps`): the policy's loss, the reference's KL term and any old-policy
    log-probs run each group's prompt once and its completions as chains on the prompt's cache, instead
    of the prompt once per completion (a group of 8 completions of ~100 tokens after a ~500-token
    prompt is ~1/3 of the tokens). Same values and gradients (tests/decode/test_logps.py); inputs with
    images or an MoE auxiliary loss go to TRL's own computation."""
    from trl import GRPOTrainer

    from core.decode.logps import grouped_token_logps

    class SharedPromptGRPOTrainer(GRPOTrainer):
        reasoning_only_loss = False

        def _generate_and_score_completions(self, inputs):
            """TRL's rollouts and advantages; with `reasoning_only_loss` the loss mask (TRL's `tool_mask`, which
            masks the loss but not attention) also drops every token after `</think>`."""
            output = super()._generate_and_score_completions(inputs)
            if self.reasoning_only_loss:
                mask = reasoning_mask(self.processing_class, output["completion_ids"], output["completion_mask"])
                if "tool_mask" in output:
                    mask = mask * output["tool_mask"]
                output["tool_mask"] = mask
                output["num_items_in_batch"] = self.accelerator.gather(mask.sum()).sum()
            return output

        def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep,
                                               batch_size=None, compute_entropy=False, compute_aux_loss=False,
                                               **inputs):
            if compute_aux_loss or any(value is not None for value in inputs.values()):
                return super()._get_per_token_logps_and_entropies(
                    model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size,
                    compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss, **inputs)
            with self.accelerator.autocast():
                logps, entropies = grouped_token_logps(model, input_ids, attention_mask, logits_to_keep,
                                                       temperature=self.temperature, entropy=compute_entropy,
                                                       max_rows=batch_size)
            return logps, entropies, None

    return SharedPromptGRPOTrainer


def _config(settings: GRPOSettings, device: str):
    from trl import GRPOConfig

    total = settings.batch_size * settings.group_size  # one generation of all groups per optimizer step
    micro = settings.micro_batch or total
    return GRPOConfig(output_dir=str(run_dir(settings.run)), max_steps=settings.max_steps,
                      learning_rate=settings.learning_rate, lr_scheduler_type="constant_with_warmup",
                      warmup_steps=settings.warmup_steps, per_device_train_batch_size=micro,
                      gradient_accumulation_steps=total // micro, steps_per_generation=total // micro,
                      num_generations=settings.group_size, max_completion_length=settings.max_completion_length,
                      temperature=settings.temperature, beta=settings.beta, epsilon=settings.epsilon,
                      scale_rewards=settings.scale_rewards,
                      gradient_checkpointing=False, bf16=settings.bf16(device),
                      use_cpu=device == "cpu", seed=settings.seed, data_seed=settings.seed, disable_dropout=True,
                      use_vllm=settings.use_vllm, vllm_mode="colocate",
                      logging_steps=settings.logging_steps, save_strategy="steps", save_steps=settings.save_steps,
                      save_total_limit=1, report_to="none", dataloader_num_workers=0, disable_tqdm=False)


def train_grpo(settings: GRPOSettings, store: Store | None = None) -> dict:
    """Run GRPO from the parent's adapter, save the adapter and card, register the run; the run record."""
    import torch

    from core.eval.faithfulness import FaithfulnessChecker
    from core.llm.backbone import resolve_device
    from core.train.callbacks import ReleaseMemory, StoreLogger, TimeLimit
    from core.train.reason import think_meta, think_record
    from core.train.rewards import GroundedReward, LikelihoodReward, SidReward

    if settings.threads:
        torch.set_num_threads(settings.threads)
    store = store or Store()
    parent, ckpt, dataset, sidmap, model, tokenizer, meta = load_parent(store, settings.from_run)
    if not meta.get("think"):
        raise SidLensError(f"run {settings.from_run!r} was not trained to reason (<think>...</think>): "
                           "train it with `python -m core train reason` first, or pass --from reason")
    train_data = rl_dataset(dataset, sidmap, settings.max_steps * settings.batch_size, settings.seed, meta)
    resume = resume_point(settings.run, settings.identity(), settings.restart)
    config = {**settings.identity(), "parent_checkpoint": relative_to_repo(ckpt), "sid_map_hash": sidmap.hash,
              "examples": len(train_data)}
    start_stage(store, settings, stage=STAGE, dataset=parent["dataset"], config=config, parent=settings.from_run,
                resume=resume)
    logger, rewards, limit = StoreLogger(store, settings.run), _reward_logger(store, settings.run), \
        TimeLimit(settings.max_minutes or None)
    probe = _probe(store, settings, dataset, sidmap, tokenizer, meta) if settings.probe_users else None
    callbacks = [logger, rewards, limit, ReleaseMemory()] + ([probe] if probe else [])
    reward_funcs = [SidReward(sidmap)] + (
        [GroundedReward(FaithfulnessChecker(dataset, sidmap), settings.grounding_reward, settings.grounding_needs_level)]
        if settings.grounding_reward else []) + (
        [LikelihoodReward(tokenizer, sidmap, settings.likelihood_reward)] if settings.likelihood_reward else [])
    trainer = _trainer_class()(model=model, reward_funcs=reward_funcs,
                               args=_config(settings, resolve_device().type), train_dataset=train_data,
                               processing_class=tokenizer, callbacks=callbacks)
    _ready(trainer, settings.reasoning_only_loss)
    _, seconds = run_trainer(trainer, store, settings.run, resume)
    if "ref" in trainer.model.peft_config:
        trainer.model.delete_adapter("ref")
    steps = trainer.state.global_step
    logs = rewards.history
    record = {**think_record(parent, meta, settings, STAGE, seconds, steps, steps * settings.batch_size),
              "precision": "bf16" if trainer.args.bf16 else "fp32", **loss_ends(store, settings.run),
              "completions": steps * settings.batch_size * settings.group_size,
              "reward_first5": mean_of(logs[:5], "reward"), "reward_last5": mean_of(logs[-5:], "reward"),
              "sid_reward_first5": mean_of(logs[:5], "sid_reward"), "sid_reward_last5": mean_of(logs[-5:], "sid_reward"),
              "grounded_first5": mean_of(logs[:5], "grounded"), "grounded_last5": mean_of(logs[-5:], "grounded"),
              "target_prob_first5": mean_of(logs[:5], "target_prob"),
              "target_prob_last5": mean_of(logs[-5:], "target_prob"),
              "exact_last5": mean_of(logs[-5:], "exact"), "parseable_last5": mean_of(logs[-5:], "parseable"),
              "kl_last5": mean_of(logs[-5:], "kl"), "stopped_early": limit.stopped_early,
              **({"probe_users": settings.probe_users, "probe_first": probe.history[0], "probe_last": probe.history[-1]}
                 if probe and probe.history else {}),
              **({"probe_best": probe.best} if probe and probe.best else {}),
              "resumed_from": resume and relative_to_repo(resume)}
    return finish_stage(trainer.model, tokenizer, sidmap, settings, store, record=record, config=config,
                        meta=think_meta(meta, settings, STAGE, history=history_style(meta)),
                        summary=("command", "train_seconds", "seconds_per_step", "adapter_mb", "steps", "examples"))

