"""The optimisation loop shared by DPO and Softmax-DPO (see `core.train.preference` for why it is
hand-written): policy log-probs of the planned responses, the S-DPO loss against the precomputed
reference, AdamW with warm-up + cosine decay and gradient clipping, one store log per step."""
from __future__ import annotations

import time

import torch
from tqdm.auto import tqdm

from core.decode.logps import completion_logps
from core.llm.precision import autocast
from core.train.sdpo_loss import sdpo_loss

MAX_GRAD_NORM = 1.0


def trainable_parameters(model) -> list[torch.nn.Parameter]:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise RuntimeError("the policy has no trainable parameters: load the checkpoint with merge=False")
    return params


def chosen_nll(chosen_logps: torch.Tensor, rows) -> torch.Tensor:
    """Mean per-token negative log-likelihood of the chosen responses (summed log-probs [B] over each
    row's first response length): TRL's `loss_type="sft"` term, which `--sft-weight` adds to the
    preference loss (RPO) so that the chosen response stays likely while the negatives are pushed down."""
    lengths = torch.tensor([len(r.responses[0]) for r in rows], dtype=chosen_logps.dtype, device=chosen_logps.device)
    return -(chosen_logps / lengths).mean()


def run_loop(model, tokenizer, plan, ref: torch.Tensor, settings, store=None, progress: bool = True,
             bf16: bool = False) -> dict:
    """Train `model` in place on `plan` (batches of `settings.batch_size` rows, in order); `bf16` runs
    each forward under bf16 autocast (the weights, gradients and optimizer stay fp32).

    Returns {"logs": one dict per step, "seconds": training time, "stopped_early": bool}; each log
    (loss (the preference loss alone), rewards_chosen, rewards_rejected, reward_accuracy, margin,
    nll_chosen, lr, grad_norm, logp_chosen, logp_rejected, step_seconds)
    also goes to `store.log_steps(settings.run, step, ...)` when a store is given.
    """
    from transformers import get_cosine_schedule_with_warmup

    params = trainable_parameters(model)
    steps = min(settings.max_steps, len(plan) // settings.batch_size)
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=0.0)
    schedule = get_cosine_schedule_with_warmup(optimizer, settings.warmup_steps, steps)
    limit = settings.max_minutes * 60 if settings.max_minutes else None
    device = next(model.parameters()).device
    logs, started, stopped_early = [], time.perf_counter(), False
    model.train()
    for step in tqdm(range(steps), desc=f"{settings.run} ({settings.STAGE})", unit="step", disable=not progress):
        tick = time.perf_counter()
        rows = plan[step * settings.batch_size:(step + 1) * settings.batch_size]
        ref_batch = ref[step * settings.batch_size:(step + 1) * settings.batch_size].to(device)
        # micro-batches: the batch's gradient accumulated over smaller forward/backward passes (lower peak
        # memory with long responses such as labeled reasoning traces); the loss is a batch mean, so each
        # part's mean is weighted by its share of the batch
        micro, parts = settings.micro_batch or len(rows), []
        for start in range(0, len(rows), micro):
            part, part_ref = rows[start:start + micro], ref_batch[start:start + micro]
            with autocast(device.type, bf16):  # one context per forward (see core.llm.precision.autocast)
                logps = completion_logps(model, tokenizer, [r.prompt for r in part],
                                         [[list(ids) for ids in r.responses] for r in part])
            part_loss, _ = sdpo_loss(logps[:, 0], logps[:, 1:], part_ref[:, 0], part_ref[:, 1:], settings.beta)
            if settings.sft_weight:
                part_loss = part_loss + settings.sft_weight * chosen_nll(logps[:, 0], part)
            (part_loss * len(part) / len(rows)).backward()
            parts.append(logps.detach())
        logps = torch.cat(parts)
        _, metrics = sdpo_loss(logps[:, 0], logps[:, 1:], ref_batch[:, 0], ref_batch[:, 1:], settings.beta)
        metrics["nll_chosen"] = chosen_nll(logps[:, 0], rows).item()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
        # the chosen response's own log-prob: DPO is known to push it down, S-DPO claims to mitigate that
        metrics.update(lr=schedule.get_last_lr()[0], grad_norm=float(grad_norm),
                       logp_chosen=logps[:, 0].mean().item(), logp_rejected=logps[:, 1:].mean().item())
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        metrics["step_seconds"] = time.perf_counter() - tick
        logs.append(metrics)
        if store is not None:
            store.log_steps(settings.run, step + 1, metrics)
        if limit is not None and time.perf_counter() - started > limit and step + 1 < steps:
            stopped_early = True
            break
    model.eval()
    return {"logs": logs, "seconds": time.perf_counter() - started, "stopped_early": stopped_early}
