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

`grouped_token_logps` is the same layout for GRPO (`core.train.grpo`): per-token log-probs (and
entropies, at a sampling temperature) of rows laid out as TRL's GRPOTrainer lays them out, each
group's prompt run once for its sampled completions.
"""
from __future__ import annotations

import torch

from core.decode.inputs import encode_prompts, model_device, pad_token_id, shared_prefix_length, tokenize_prompts
from core.decode.tree import chains, forward_tree


def _continued(model, first: torch.Tensor, cache, prompt_mask: torch.Tensor, last_position: torch.Tensor,
               tokens: torch.Tensor, n: int, temperature: float = 1.0,
               entropy: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-token log-probs (and entropies) of `tokens` [B*n, W]: n continuations of each of B cached prompts.

    `first` [B, V] are the logits after each prompt's last token, `cache` the prompts' KV cache (B rows,
    `prompt_mask` [B, C] its real columns), `last_position` [B] the rotary position of each prompt's last
    token. Continuation j of prompt b is row b*n + j; all but its last token run as chain j appended to
    prompt b's cache row (`core.decode.tree`), each seeing the prompt and its own earlier tokens. Logits
    are divided by `temperature` before the softmax. Returns ([B*n, W], [B*n, W] or None)."""
    rows, width = tokens.shape
    count = rows // n
    index = torch.arange(count, device=tokens.device).repeat_interleave(n)  # prompt of each row
    logp = torch.log_softmax(first.float() / temperature, dim=-1)[index]    # [B*n, V]
    logps = [logp.gather(-1, tokens[:, :1])]
    entropies = [-(logp.exp() * logp).sum(-1, keepdim=True)] if entropy else []
    if width > 1:
        # chain j of prompt b holds continuation j's tokens but its last (each predicts the next); padding after
        # a shorter continuation's real tokens is never seen by them
        steps = width - 1
        inputs = tokens[:, :-1].reshape(count, n * steps)
        positions = last_position[:, None] + torch.arange(1, width, device=tokens.device).repeat(n)
        sees_cached = prompt_mask.bool()[:, None].expand(-1, n * steps, -1)
        logits = forward_tree(model, cache, inputs, positions, sees_cached, chains(n, steps, tokens.device))
        rest = torch.log_softmax(logits.float().view(rows, steps, -1) / temperature, dim=-1)
        logps.append(rest.gather(-1, tokens[:, 1:, None]).squeeze(-1))
        if entropy:
            entropies.append(-(rest.exp() * rest).sum(-1))
    return torch.cat(logps, dim=1), torch.cat(entropies, dim=1) if entropy else None


def completion_logps(model, tokenizer, prompts: list[str], completions: list[list[list[int]]],
                     last: int | None = None) -> torch.Tensor:
    """`out[b, j]` = sum of log p(token | prompt b, earlier tokens) over completion `completions[b][j]`
    (with `last`: over its last `last` tokens only, the earlier ones being context, e.g. a reasoning
    before the SID scored after it).

    Prompts are fully rendered text (chat template applied); completions are token ids and every
    prompt must have the same number of them (each at least one token, or `last`). Runs with gradients
    when the caller has them enabled (wrap in `torch.no_grad()` for the reference).
    """
    counts = {len(c) for c in completions}
    if len(completions) != len(prompts) or len(counts) != 1 or any(not ids for c in completions for ids in c):
        raise ValueError("every prompt needs the same number of non-empty completions")
    if last is not None and (last < 1 or any(len(ids) < last for c in completions for ids in c)):
        raise ValueError(f"every completion needs at least last={last} tokens, and last must be positive")
    n = counts.pop()
    device = model_device(model)
    batch = encode_prompts(tokenizer, prompts, device)
    out = model(**batch, use_cache=True, logits_to_keep=1)
    flat = [ids for c in completions for ids in c]
    width = max(len(ids) for ids in flat)
    pad = pad_token_id(tokenizer)
    tokens = torch.tensor([ids + [pad] * (width - len(ids)) for ids in flat], device=device)
    scored = [len(ids) if last is None else last for ids in flat]
    mask = torch.tensor([[0] * (len(ids) - n) + [1] * n + [0] * (width - len(ids)) for ids, n in zip(flat, scored)],
                        device=device)
    logps, _ = _continued(model, out.logits[:, -1], out.cache, batch["attention_mask"], batch["position_ids"][:, -1],
                          tokens, n)
    return (logps * mask).sum(dim=1).view(len(prompts), n)


def grouped_token_logps(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, completion_length: int,
                        temperature: float = 1.0, entropy: bool = False,
                        max_rows: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-token log-probs (and entropies) of the last `completion_length` columns of each row, computed as
    the plain forward over the whole rows computes them, but with each distinct prompt run once.

    Rows are prompt + completion as GRPO lays them out (TRL's GRPOTrainer: the prompt left-padded, the
    completion after it, `attention_mask` 0 on padding); rows whose prompt columns are identical (a
    GRPO group: one prompt, many sampled completions) share one forward of their prompt, and their
    completions run as chains on its cache (`_continued`). Positions are the column indices, as in the
    plain forward without position ids. A group of more than `max_rows` rows is split, each part
    running the prompt again (bounds the chains' attention mask). Values at completion columns whose
    mask is 0 (after the end of a completion) are not those of the plain forward; callers mask them.
    Returns ([rows, completion_length], entropies of the same shape or None), in the rows' order.
    """
    rows, total = input_ids.shape
    width = total - completion_length
    if completion_length < 1 or width < 1:
        raise ValueError(f"need at least one prompt and one completion column, not {width} and {completion_length}")
    groups: dict[tuple, list[int]] = {}
    prompts, masks = input_ids[:, :width].tolist(), attention_mask[:, :width].tolist()
    for r in range(rows):
        groups.setdefault((tuple(prompts[r]), tuple(masks[r])), []).append(r)
    parts = [members[i:i + (max_rows or rows)] for members in groups.values()
             for i in range(0, len(members), max_rows or rows)]
    logps = input_ids.new_zeros(rows, completion_length, dtype=torch.float)
    entropies = torch.zeros_like(logps) if entropy else None
    last = torch.tensor([width - 1], device=input_ids.device)
    for part in parts:
        prompt, mask = input_ids[part[:1], :width], attention_mask[part[:1], :width]
        out = model(input_ids=prompt, attention_mask=mask, use_cache=True, logits_to_keep=1)
        values, ents = _continued(model, out.logits[:, -1], out.cache, mask, last, input_ids[part, width:], len(part),
                                  temperature, entropy)
        index = (torch.tensor(part, device=input_ids.device),)
        logps = logps.index_put(index, values)
        if entropy:
            entropies = entropies.index_put(index, ents)
    return logps, entropies


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
