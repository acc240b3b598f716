"""Log-probability of given completions after a prompt, summed over the completion tokens, with
gradients: the one "score a response" function of the preference trainers (policy and reference).

For every prompt there are n completions (the preferred item and its K negatives). The prompt is
run once per prompt, its KV cache is expanded to the n completions (`Cache.reorder_cache`, as in
`core.decode.beam` and `core.eval.sid_likelihood`) and only the completion tokens are run again.
An item's response is 3 SID tokens + EOS against a ~160-token prompt, so K negatives cost almost
nothing extra, where TRL's DPOTrainer layout (each response concatenated with its own copy of the
prompt) runs the prompt K+1 times. Gradients flow through the expanded cache into the prompt's
forward pass, so the result equals the concatenated computation (tested, values and gradients).

Tokens are scored with the log-softmax over the full vocabulary (not restricted to SID tokens), the
same log-probs the evaluation's beam search and candidate scorer use.
"""
from __future__ import annotations

import torch

from core.decode.inputs import encode_prompts, model_device, pad_token_id


def completion_logps(model, tokenizer, prompts: list[str], completions: list[list[list[int]]]) -> torch.Tensor:
    """`out[b, j]` = sum of log p(token | prompt b, earlier tokens) over completion `completions[b][j]`.

    Prompts are fully rendered text (chat template applied); completions are token ids and every
    prompt must have the same number of them (each at least one token). Runs with gradients when
    the caller has them enabled (wrap in `torch.no_grad()` for the reference).
    """
    counts = {len(c) for c in completions}
    if len(completions) != len(prompts) or len(counts) != 1 or any(not ids for c in completions for ids in c):
        raise ValueError("every prompt needs the same number of non-empty completions")
    n = counts.pop()
    device = model_device(model)
    batch = encode_prompts(tokenizer, prompts, device)
    out = model(**batch, use_cache=True, logits_to_keep=1)
    first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)                 # [B, V]
    index = torch.arange(len(prompts), device=device).repeat_interleave(n)      # prompt of each flat row
    flat = [ids for c in completions for ids in c]
    width = max(len(ids) for ids in flat)
    pad = pad_token_id(tokenizer)
    tokens = torch.tensor([ids + [pad] * (width - len(ids)) for ids in flat], device=device)
    mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in flat], device=device)
    scores = first[index, tokens[:, 0]]
    if width > 1:
        cache = out.cache
        cache.reorder_cache(index)
        attention = torch.cat([batch["attention_mask"][index], mask[:, :-1]], dim=1)
        positions = batch["position_ids"][index, -1:] + torch.arange(1, width, device=device)
        logits = model(input_ids=tokens[:, :-1], attention_mask=attention, position_ids=positions, cache=cache,
                       use_cache=True).logits.float()
        rest = torch.log_softmax(logits, dim=-1).gather(-1, tokens[:, 1:, None]).squeeze(-1)  # [B*n, width-1]
        scores = scores + (rest * mask[:, 1:]).sum(dim=1)
    return scores.view(len(prompts), n)
