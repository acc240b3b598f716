import math
from types import SimpleNamespace

import pytest
import torch

from core.train.sdpo_loss import sdpo_loss


def batch(b=5, k=3, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return [scale * torch.randn(*shape, generator=g) - 20 for shape in ((b,), (b, k), (b,), (b, k))]


def trl_sigmoid_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta, tmp_path):
    """TRL's own DPO loss (DPOTrainer._compute_loss, loss_type="sigmoid", precomputed reference) on
    given sequence log-probs: a real DPOTrainer on the tiny model, fed a stand-in model whose
    per-token log-probs are the sequence log-probs in one completion position."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from core.llm.tiny import tiny_model

    model, tokenizer = tiny_model()
    args = DPOConfig(output_dir=str(tmp_path / "trl"), beta=beta, loss_type=["sigmoid"], use_cpu=True, bf16=False,
                     report_to="none", precompute_ref_log_probs=False)
    trainer = DPOTrainer(model=model, ref_model=tiny_model()[0], args=args, processing_class=tokenizer,
                         train_dataset=Dataset.from_list([{"prompt": "a", "chosen": " b", "rejected": " c"}]))
    trainer.precompute_ref_logps = True  # use the reference log-probs given in the inputs
    n = policy_chosen.shape[0]
    per_token = torch.stack([torch.cat([policy_chosen, policy_rejected]), torch.zeros(2 * n)], dim=1)[:, [1, 0]]

    class GivenLogps(torch.nn.Module):
        def forward(self, **kwargs):
            zeros = torch.zeros(2 * n, 2)
            return SimpleNamespace(log_probs=per_token, entropy=zeros, mean_logits=zeros, is_top1=zeros.bool())

    inputs = {"input_ids": torch.ones(2 * n, 2, dtype=torch.long), "attention_mask": torch.ones(2 * n, 2, dtype=torch.long),
              "completion_mask": torch.tensor([[0, 1]] * (2 * n)), "ref_chosen_logps": ref_chosen,
              "ref_rejected_logps": ref_rejected}
    return trainer._compute_loss(GivenLogps(), inputs, return_outputs=False)


@pytest.mark.parametrize("beta", [0.1, 1.0])
def test_one_negative_equals_trl_sigmoid_dpo_loss(beta, tmp_path):
    pc, pr, rc, rr = batch(k=1)
    ours, metrics = sdpo_loss(pc, pr, rc, rr, beta)
    theirs = trl_sigmoid_loss(pc, pr[:, 0], rc, rr[:, 0], beta, tmp_path)
    paper = -torch.nn.functional.logsigmoid(beta * ((pc - rc) - (pr[:, 0] - rr[:, 0]))).mean()
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6, abs=1e-7)
    assert ours.item() == pytest.approx(paper.item(), rel=1e-6)
    assert metrics["loss"] == pytest.approx(ours.item())


def test_matches_the_softmax_formula_and_starts_at_log_one_plus_k():
    pc, pr, rc, rr = batch(k=4, scale=0.5)
    loss, _ = sdpo_loss(pc, pr, rc, rr, beta=0.7)
    r_w, r_j = pc - rc, pr - rr
    direct = -torch.log(torch.sigmoid(-torch.log(torch.exp(0.7 * (r_j - r_w[:, None])).sum(1)))).mean()
    assert loss.item() == pytest.approx(direct.item(), rel=1e-5)
    same, metrics = sdpo_loss(pc, pr, pc.clone(), pr.clone(), beta=1.0)  # policy == reference
    assert same.item() == pytest.approx(math.log(5), rel=1e-6)
    assert metrics["reward_accuracy"] == 0.0 and metrics["margin"] == 0.0


@pytest.mark.parametrize("margin", [1e4, -1e4])
@pytest.mark.parametrize("k", [1, 3])
def test_finite_loss_and_gradient_for_huge_margins(margin, k):
    chosen = torch.full((2,), margin / 2, requires_grad=True)
    rejected = torch.full((2, k), -margin / 2, requires_grad=True)
    loss, metrics = sdpo_loss(chosen, rejected, torch.zeros(2), torch.zeros(2, k), beta=1.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(chosen.grad).all() and torch.isfinite(rejected.grad).all()
    if margin > 0:
        assert loss.item() < 1e-6 and metrics["reward_accuracy"] == 1.0
    else:  # the chosen response loses by 1e4: the loss is ~1e4 and the gradient still points the right way
        assert loss.item() == pytest.approx(1e4 + math.log(k) / 1.0, rel=1e-3)
        assert (chosen.grad < 0).all() and (rejected.grad > 0).all()


def test_gradient_step_raises_chosen_log_ratio_relative_to_rejected():
    pc, pr, rc, rr = batch(k=3, seed=1)
    chosen, rejected = pc.clone().requires_grad_(True), pr.clone().requires_grad_(True)
    loss, metrics = sdpo_loss(chosen, rejected, rc, rr, beta=1.0)
    loss.backward()
    with torch.no_grad():
        chosen -= 0.5 * chosen.grad
        rejected -= 0.5 * rejected.grad
    after, after_metrics = sdpo_loss(chosen, rejected, rc, rr, beta=1.0)
    gap_before = (pc - rc) - (pr - rr).mean(1)
    gap_after = (chosen - rc) - (rejected - rr).mean(1)
    assert (gap_after > gap_before).all()
    assert after.item() < loss.item() and after_metrics["margin"] > metrics["margin"]


def test_shape_errors():
    pc, pr, rc, rr = batch(k=2)
    with pytest.raises(ValueError):
        sdpo_loss(pc, pr[:, 0], rc, rr[:, 0], 1.0)
    with pytest.raises(ValueError):
        sdpo_loss(pc, pr, rc, rr[:, :1], 1.0)
