"""Constrained beam search over the SID trie: the top-K distinct real items for each prompt.

Why hand-written: HF `generate(num_beams=B, prefix_allowed_tokens_fn=...)` copies the prompt B
times before its first forward pass and calls the Python constraint once per beam per step through
a logits processor, which on CPU costs seconds per user (BENCHMARKS.md, 'Decoding'). Here the tokens
all prompts share (system prompt, chat template) are prefilled once per call, each user's own
tokens once per user (`logits_to_keep=1`, so no full-sequence vocabulary projection), and only
`levels - 1` steps follow, each appending a user's kept beams to that user's own row of the KV cache
with shared-prefix attention (`core.decode.tree`: the prompt's cache is never copied per beam, as
HF's beam search and `Cache.reorder_cache` would). Users are batched with padding, an attention mask
and explicit position ids, so a padded user scores the same as one decoded alone.

Scoring (identical to the HF reference, so both return the same items and scores): at every level
the log-softmax is taken over the FULL vocabulary, and the candidates are then restricted to the
trie's allowed tokens without renormalising. A SID's score is the sum of its levels' log-probs,
i.e. the log-probability the unconstrained model gives that exact SID, and `level_probs` are the
per-level conditional token probabilities (their product is exp(score)). Renormalising over the
allowed set would inflate sparse branches (a prefix with one item always gets probability 1).
Every kept beam at the last level is a different leaf of the trie, hence a distinct item; the
user's excluded items (their history, by default) are pruned through `SidTrie.exclusion`.
"""
from __future__ import annotations

import copy
import math

import torch

from core.decode.hf_reference import hf_constrained_topk
from core.decode.inputs import batch_starts, model_device, pad_left, pad_token_id, shared_prefix_length, tokenize_prompts
from core.decode.results import BeamNode, Recommendation, check_request, recommendation
from core.decode.tree import forward_tree
from core.decode.trie import SidTrie

MIN_SHARED_PREFIX = 8  # below this, reusing a prefix saves less than copying its cache costs

__all__ = ["Recommendation", "BeamNode", "constrained_topk", "hf_constrained_topk", "check_request"]


@torch.no_grad()
def _prefill(model, rows: list[list[int]], prefix: tuple[list[int], object] | None, pad: int, device):
    """Run the users' prompts; with `prefix` (its ids, its KV cache) only the part after it is computed.

    The shared prefix cache is deep-copied (the HF KV-cache docs' pattern for prefix reuse) and
    repeated per user; each user's own tokens follow it, left-padded in the middle, with the mask and
    position ids saying where they really are, so the result equals prefilling the whole prompt.
    Returns (log-probs of the next token [users, vocab], cache, attention mask, last positions).
    """
    start = len(prefix[0]) if prefix else 0
    batch = pad_left([r[start:] for r in rows], pad, device, offset=start)
    cache = None
    if prefix:
        cache = copy.deepcopy(prefix[1])
        cache.batch_repeat_interleave(len(rows))
        batch["attention_mask"] = torch.cat([batch["attention_mask"].new_ones(len(rows), start),
                                             batch["attention_mask"]], dim=1)
    out = model(**batch, cache=cache, use_cache=True, logits_to_keep=1)
    return (torch.log_softmax(out.logits[:, -1].float(), dim=-1), out.cache, batch["attention_mask"],
            batch["position_ids"][:, -1])


@torch.no_grad()
def _search_batch(model, trie: SidTrie, start: tuple, exclusions: list, num_beams: int, filler_id: int):
    """Beam search for one batch from its `_prefill` output; returns per user the final beams and the per-level kept beams.

    Each level's kept beams are appended to their user's row of the cache (`core.decode.tree`): beam j
    of user u sees the prompt and its own ancestors, so the prompt's cache is never copied per beam."""
    logp, cache, attention, positions = start
    n_users = logp.shape[0]
    # beams[u] = list of (prefix token ids, score, level log-probs); node_logp[u, j] are the next-token
    # log-probs after beams[u][j] and node_sees[u, j] the cache columns it sees; at level 0 each user
    # has one node, its prompt
    beams = [[((), 0.0, [])] for _ in range(n_users)]
    node_logp, node_sees = logp[:, None], attention.bool()[:, None]
    tree = [[] for _ in range(n_users)]
    eye = torch.eye(num_beams, dtype=torch.bool, device=logp.device)
    for level in range(trie.depth):
        parents, next_tokens, new_beams = [], [], []
        for u in range(n_users):
            cand_tokens, cand_scores, cand_parent = [], [], []
            for j, (prefix, score, _) in enumerate(beams[u]):
                if score == -math.inf:
                    continue
                allowed = trie.allowed(prefix, exclusions[u])
                cand_tokens += allowed
                cand_parent += [j] * len(allowed)
                cand_scores.append(score + node_logp[u, j, allowed])
            kept, user_parents = [], []
            if cand_tokens:
                top = torch.cat(cand_scores).topk(min(num_beams, len(cand_tokens)))
                for s, i in zip(top.values.tolist(), top.indices.tolist()):
                    j, tid = cand_parent[i], cand_tokens[i]
                    prefix, _, lps = beams[u][j]
                    kept.append((prefix + (tid,), s, lps + [float(node_logp[u, j, tid])]))
                    user_parents.append(j)
                    next_tokens.append(tid)
            tree[u].append([BeamNode(trie.codes(p), math.exp(lps[-1]), s) for p, s, lps in kept])
            # dead beams keep the batch rectangular: a filler token after the prompt, never expanded
            for _ in range(num_beams - len(kept)):
                kept.append(((), -math.inf, []))
                user_parents.append(0)
                next_tokens.append(filler_id)
            parents.append(user_parents)
            new_beams.append(kept)
        beams = new_beams
        if level == trie.depth - 1:
            break
        index = torch.tensor(parents, device=logp.device)
        sees_cached = node_sees.gather(1, index[..., None].expand(-1, -1, node_sees.shape[-1]))
        tokens = torch.tensor(next_tokens, device=logp.device).view(n_users, num_beams)
        logits = forward_tree(model, cache, tokens, (positions + level + 1)[:, None].expand(-1, num_beams),
                              sees_cached, eye)
        node_logp = torch.log_softmax(logits.float(), dim=-1)
        node_sees = torch.cat([sees_cached, eye.expand(n_users, -1, -1)], dim=2)
    return beams, tree


def constrained_topk(model, tokenizer, trie: SidTrie, prompts: list[str], k: int = 10, num_beams: int | None = None,
                     exclude: list[set[str]] | None = None, batch_size: int = 8, return_tree: bool = False,
                     progress: bool | None = None, after_prefill=None, prefill=None):
    """Top-`k` distinct real items per prompt, best first, as `Recommendation`s.

    `exclude[u]` are item ids user u may not be recommended (pass their history; None = nothing
    excluded). Fewer than `k` come back only when fewer than `k` items remain. With
    `return_tree=True` returns `(results, trees)` where `trees[u][level]` lists the `BeamNode`s
    kept at that level, for drawing the beam over the SID levels.

    `after_prefill(start, (logp, cache, attention, last_positions))` is called with each batch's
    prefilled prompts (users `start`..) before the search extends the cache, so other measurements
    from the same prompts need no second prefill (the evaluation's greedy answer and candidate
    likelihoods); it must leave the cache as it found it (`cache.crop` what it appends).

    `prefill(start, rows)` replaces the prompt prefill: given a batch's prompt token ids it returns
    the same `(logp, cache, attention, last_positions)` from wherever the search should continue
    (`core.eval.traces.ReasoningPrefill` continues after the reasoning it generates, in the cache
    the generation already filled).
    """
    num_beams = check_request(trie, prompts, k, num_beams, exclude)
    device, pad = model_device(model), pad_token_id(tokenizer)
    rows = tokenize_prompts(tokenizer, prompts)
    shared = rows[0][:shared_prefix_length(rows)]
    prefix = None
    if prefill is None and len(shared) >= MIN_SHARED_PREFIX:
        with torch.no_grad():
            prefix = (shared, model(input_ids=torch.tensor([shared], device=device), use_cache=True,
                                    logits_to_keep=1).cache)
    results, trees = [], []
    for start in batch_starts(len(prompts), batch_size, "constrained top-k", progress):
        chunk = rows[start:start + batch_size]
        exclusions = [trie.exclusion(exclude[start + i] if exclude else None) for i in range(len(chunk))]
        prefilled = prefill(start, chunk) if prefill else _prefill(model, chunk, prefix, pad, device)
        if after_prefill is not None:
            after_prefill(start, prefilled)
        beams, tree = _search_batch(model, trie, prefilled, exclusions, num_beams, pad)
        for user_beams in beams:
            recs = []
            for path, score, lps in user_beams[:k]:
                if score == -math.inf:
                    break
                recs.append(recommendation(trie, path, score, [math.exp(lp) for lp in lps]))
            results.append(recs)
        trees += tree
    return (results, trees) if return_tree else results
