"""Shared-prefix ("tree") attention: many continuations of each cached prompt in one forward pass.

The beam search (`core.decode.beam`) and the candidate likelihoods (`core.eval.sid_likelihood`)
continue every prompt of a batch in many ways at once: 10 beams, 20 candidate SIDs. Expanding the
KV cache to one row per continuation (`Cache.reorder_cache` / `batch_repeat_interleave`, what HF's
own beam search does) copies the prompt's keys and values once per continuation, again at every
reorder, and sdpa repeats them per query-head group for multi-token queries; on a 2-core CPU that
cost more than prefilling the prompt (BENCHMARKS.md, 'Shared-prefix decoding'). Here the
continuation tokens are appended to their own prompt's row as new cache columns, and a 4-D boolean
attention mask (transformers hands a 4-D mask to the attention as is) lets each token see the
prompt and its own ancestors only, at the position it would have alone; the logits equal those of
the expanded cache up to float rounding, and the cache is never copied. Hand-written because
transformers has no tree-attention decoding for causal LMs.
"""
from __future__ import annotations

import torch


def forward_tree(model, cache, tokens: torch.Tensor, positions: torch.Tensor, sees_cached: torch.Tensor,
                 sees_new: torch.Tensor) -> torch.Tensor:
    """Logits [rows, Q, vocab] of `tokens` [rows, Q] appended to `cache` (rows x C columns).

    Token q of row r sees the cached columns where `sees_cached[r, q]` ([rows, Q, C] bool) is True and
    the new tokens where `sees_new[q]` ([Q, Q] bool, or [rows, Q, Q]) is True, itself included (a
    query that sees nothing would give NaN); `positions` [rows, Q] are the tokens' rotary positions.
    The cache keeps the Q new columns: `cache.crop(-Q)` removes them. Gradients flow when enabled
    (`core.decode.logps` trains through it)."""
    rows = tokens.shape[0]
    new = sees_new if sees_new.dim() == 3 else sees_new.expand(rows, -1, -1)
    mask = torch.cat([sees_cached, new], dim=2)[:, None]
    return model(input_ids=tokens, position_ids=positions, attention_mask=mask, cache=cache, use_cache=True).logits


def chains(count: int, length: int, device=None) -> torch.Tensor:
    """`sees_new` for `count` independent chains of `length` tokens laid out chain after chain: each
    token sees the earlier tokens of its own chain and itself ([count * length]^2 bool)."""
    n = count * length
    chain = torch.arange(n, device=device) // length
    causal = torch.ones(n, n, dtype=torch.bool, device=device).tril()
    return causal & (chain[:, None] == chain[None, :])
