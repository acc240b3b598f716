"""Log-likelihood of given items' SIDs under a prompt: the LM side of the 20-candidate protocol.

For each user the score of candidate item i is log p(sid_i | prompt) = sum over levels of the
log-softmax over the FULL vocabulary (the same scores the constrained beam search gives a SID,
so a candidate ranking agrees with the beam's ranking). The prompt is prefilled once per user and
its KV cache is expanded to the candidates afterwards (`Cache.reorder_cache`, as in
`core.decode.beam`): the candidates only cost their `levels - 1` SID tokens each, instead of
prompt + SID for 20 sequences per user. Hand-written because TRL/transformers have no "score these
continuations with a shared prefix" helper.
"""
from __future__ import annotations

import torch
from tqdm.auto import tqdm

from core.decode.inputs import encode_prompts, model_device
from core.decode.trie import SidTrie


@torch.no_grad()
def _score_batch(model, trie: SidTrie, prompts: list[str], candidates: list[list[str]], tokenizer) -> list[list[float]]:
    device = model_device(model)
    batch = encode_prompts(tokenizer, prompts, device)
    out = model(**batch, use_cache=True, logits_to_keep=1)
    first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)  # [users, vocab]
    counts = [len(c) for c in candidates]
    index = torch.repeat_interleave(torch.arange(len(prompts), device=device), torch.tensor(counts, device=device))
    paths = torch.tensor([trie.path(trie.sidmap.sid(i)) for cands in candidates for i in cands], device=device)
    scores = first[index, paths[:, 0]]
    if trie.depth > 1:
        cache = out.cache
        cache.reorder_cache(index)
        steps = trie.depth - 1
        attention = torch.cat([batch["attention_mask"][index], batch["attention_mask"].new_ones(len(index), steps)], 1)
        positions = batch["position_ids"][index, -1:] + torch.arange(1, steps + 1, device=device)
        rest = model(input_ids=paths[:, :-1], attention_mask=attention, position_ids=positions, cache=cache,
                     use_cache=True).logits.float()
        logp = torch.log_softmax(rest, dim=-1)  # position j predicts level j + 1
        scores = scores + logp.gather(-1, paths[:, 1:, None]).squeeze(-1).sum(-1)
    flat = scores.tolist()
    out_scores, start = [], 0
    for n in counts:
        out_scores.append(flat[start:start + n])
        start += n
    return out_scores


def sid_log_likelihoods(model, tokenizer, trie: SidTrie, prompts: list[str], candidates: list[list[str]],
                        batch_size: int = 8, progress: bool = False) -> list[list[float]]:
    """`scores[u][j]` = log p(SID of candidates[u][j] | prompts[u]) under `model`."""
    if len(prompts) != len(candidates):
        raise ValueError(f"{len(prompts)} prompts but {len(candidates)} candidate lists")
    scores = []
    for start in tqdm(range(0, len(prompts), batch_size), desc="candidate SID likelihood", unit="batch",
                      disable=not progress):
        scores += _score_batch(model, trie, prompts[start:start + batch_size],
                               candidates[start:start + batch_size], tokenizer)
    return scores
