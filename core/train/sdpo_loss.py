"""The Softmax-DPO loss (S-DPO, Chen et al. 2024); with one negative it is DPO's sigmoid loss.

    loss = -log sigmoid( -logsumexp_j beta * (r_j - r_w) ),   r = log pi(y|x) - log pi_ref(y|x)

where r_w is the log-ratio of the preferred response (the target item) and r_j those of the K
negatives, each summed over the response tokens by the caller. Only `torch.logsumexp` and
`F.logsigmoid` are used (never exp then log): both are stable for any margin, so a batch whose
log-ratios differ by 1e4 still gives a finite loss and finite gradients. With K = 1,
logsumexp over one term is the term itself and the loss is -log sigmoid(beta * (r_w - r_l)),
exactly TRL's `loss_type="sigmoid"` (tested against TRL's own DPOTrainer loss).

Why a function of log-probs rather than a TRL loss type: TRL's DPOTrainer computes its losses
inside a private method that also runs the model on a [chosen; rejected] batch, so it has no place
for K rejected responses per prompt; the loss here is a pure function that any loop can call.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def sdpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
              ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor,
              beta: float) -> tuple[torch.Tensor, dict[str, float]]:
    """(mean loss over the batch, metrics) from summed response log-probs.

    Shapes: chosen [B], rejected [B, K]. Metrics (means over the batch, as floats):
    `loss`; `rewards_chosen` and `rewards_rejected` (beta * log-ratio; rejected averaged over all
    negatives); `reward_accuracy`, the share of examples whose chosen reward beats EVERY negative's;
    `margin`, chosen reward minus the highest negative reward (for K = 1 both are TRL's
    rewards/accuracies and rewards/margins).
    """
    if policy_chosen_logps.dim() != 1 or policy_rejected_logps.dim() != 2:
        raise ValueError(f"expected chosen [B] and rejected [B, K], got {tuple(policy_chosen_logps.shape)} "
                         f"and {tuple(policy_rejected_logps.shape)}")
    if ref_chosen_logps.shape != policy_chosen_logps.shape or ref_rejected_logps.shape != policy_rejected_logps.shape:
        raise ValueError("reference log-probs must have the policy's shapes")
    if policy_rejected_logps.shape[0] != policy_chosen_logps.shape[0] or policy_rejected_logps.shape[1] < 1:
        raise ValueError("rejected log-probs need one row per example and at least one negative")
    chosen_ratio = policy_chosen_logps - ref_chosen_logps                   # [B]
    rejected_ratio = policy_rejected_logps - ref_rejected_logps             # [B, K]
    logits = beta * (rejected_ratio - chosen_ratio[:, None])                # [B, K]
    losses = -F.logsigmoid(-torch.logsumexp(logits, dim=1))                 # [B]
    loss = losses.mean()
    with torch.no_grad():
        chosen_rewards = beta * chosen_ratio.detach()
        rejected_rewards = beta * rejected_ratio.detach()
        margins = chosen_rewards - rejected_rewards.max(dim=1).values
        metrics = {"loss": loss.item(), "rewards_chosen": chosen_rewards.mean().item(),
                   "rewards_rejected": rejected_rewards.mean().item(),
                   "reward_accuracy": (margins > 0).float().mean().item(), "margin": margins.mean().item()}
    return loss, metrics
