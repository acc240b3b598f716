"""Log-probability of given completions after a prompt, summed over the completion tokens, with
gradients: the one "score a response" function of the preference trainers (policy and reference).

For every prompt there are n completions (the preferred item and its K negatives). The prompt is
run once, and its n completions follow in one more pass as chains appended to the prompt's own
cache row, each seeing the prompt and its own earlier tokens (`core.decode.tree`, as the beam search
and the candidate scorer), so the prompt's keys and values are never copied per completion. An
item's response is 3 SID tokens + EOS against a ~160-360-token prompt, so K negatives cost almost
nothing extra, where TRL's DPOTrainer layout (each response concatenated with its own copy of the
prompt) runs the prompt K+1 times. Gradients flow through the cache into the prompt's forward
pass, so the result equals the concatenated computation (tested, values and gradients).

Tokens are scored with the log-softmax over the full vocabulary (not restricted to SID tokens), the
same log-probs the evaluation's beam search and candidate scorer use.
"""
from __future__ import annotations

import torch

from core.decode.inputs import encode_prompts, model_device, pad_token_id, shared_prefix_length, tokenize_prompts
from core.decode.tree import chains, forward_tree


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
        # chain j of prompt b holds completion j's tokens but its last (each predicts the next); a shorter
        # completion's padding comes after its real tokens, which therefore never see it
        steps = width - 1
        inputs = tokens[:, :-1].reshape(len(prompts), n * steps)
        positions = batch["position_ids"][:, -1:] + torch.arange(1, width, device=device).repeat(n)
        sees_cached = batch["attention_mask"].bool()[:, None].expand(-1, n * steps, -1)
        logits = forward_tree(model, out.cache, inputs, positions, sees_cached, chains(n, steps, device)).float()
        rest = torch.log_softmax(logits.view(len(flat), steps, -1), dim=-1)
        rest = rest.gather(-1, tokens[:, 1:, None]).squeeze(-1)  # [B*n, width-1]
        scores = scores + (rest * mask[:, 1:]).sum(dim=1)
    return scores.view(len(prompts), n)


def reused_prefix_logps(model, tokenizer, prompts: list[str], completion: list[int]) -> list[float]:
    """log p(`completion` | prompt) for each prompt, without gradients, for prompts that are edits of
    the first one (the leave-one-out prompts of `core.explain`): the first prompt is run once with
    the completion, and every other prompt runs only its tokens after the prefix it shares with the
    first (its own common token prefix), on a view of the first one's KV cache cut at that length.

    Why not `completion_logps`: its batch shares only what all prompts start with, and the prompt
    without the oldest item differs right after the template, so every prompt was run whole; here
    the prompt without item i reuses everything before item i (half the history on average).
    Results equal scoring each prompt alone (tested).
    """
    from transformers import DynamicCache

    if not completion:
        raise ValueError("the completion needs at least one token")
    rows = tokenize_prompts(tokenizer, prompts)
    device = model_device(model)
    answer = torch.tensor(completion, device=device)

    def score(ids: list[int], cache=None, start: int = 0):
        inputs = torch.tensor([ids + completion[:-1]], device=device)
        positions = torch.arange(start, start + inputs.shape[1], device=device)[None]
        out = model(input_ids=inputs, position_ids=positions, cache=cache, use_cache=cache is None,
                    logits_to_keep=len(completion))
        logp = torch.log_softmax(out.logits[0].float(), dim=-1)
        return logp.gather(-1, answer[:, None]).sum().item(), out.cache

    with torch.no_grad():
        first, cache = score(rows[0])
        layers = [(layer.keys, layer.values) for layer in cache.layers]
        scores = [first]
        for ids in rows[1:]:
            shared = shared_prefix_length([rows[0], ids])  # at least one token of its own stays
            view = DynamicCache(ddp_cache_data=[(k[:, :, :shared], v[:, :, :shared]) for k, v in layers],
                                config=model.config)
            scores.append(score(ids[shared:], view, shared)[0])
    return scores
