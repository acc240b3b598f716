"""Turn rendered prompts into model inputs the same way for every decoding path.

The constrained search, its HF reference, unconstrained generation and streaming must see the same
token ids, or their results are not comparable. Prompts arrive fully rendered (chat template
applied by `core.llm.prompts.render_prompt`), so no special tokens are added here (a second BOS
would change the scores); batches are left-padded so every prompt ends at the last column and the
next token is predicted from the same position for all users.
"""
from __future__ import annotations

import torch
from tqdm.auto import tqdm

from core.errors import SidLensError


def pad_token_id(tokenizer) -> int:
    """The padding id: the tokenizer's own, else its EOS (padded positions are masked anyway)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise SidLensError("the tokenizer has neither a pad nor an EOS token: cannot batch prompts")
    return int(pad)


def stop_token_ids(model, tokenizer) -> set[int]:
    """Tokens that end a reply, for every decoding path: the tokenizer's EOS and pad and the model's
    generation EOS (one id or a list; a chat model's end-of-turn may be only there)."""
    eos = model.generation_config.eos_token_id
    ids = {tokenizer.eos_token_id, tokenizer.pad_token_id, *(eos if isinstance(eos, list) else [eos])}
    return {int(i) for i in ids if i is not None}


def tokenize_prompts(tokenizer, prompts: list[str]) -> list[list[int]]:
    """Token ids of each rendered prompt, no special tokens added."""
    if not prompts:
        raise SidLensError("no prompts to decode")
    if any(not p for p in prompts):
        raise SidLensError("an empty prompt was given: render the user's history first")
    return [list(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]


def pad_left(rows: list[list[int]], pad: int, device=None, offset: int = 0) -> dict[str, torch.Tensor]:
    """Left-padded `input_ids`, `attention_mask` and `position_ids` (`offset` at each row's first real token)."""
    width = max(len(r) for r in rows)
    input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], dtype=torch.long)
    attention_mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=torch.long)
    position_ids = offset + (attention_mask.cumsum(-1) - 1).clamp(min=0)
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids}
    return {k: v.to(device) for k, v in batch.items()} if device is not None else batch


def encode_prompts(tokenizer, prompts: list[str], device=None) -> dict[str, torch.Tensor]:
    """`pad_left` of the tokenized prompts: a batch any decoding path can feed to the model."""
    return pad_left(tokenize_prompts(tokenizer, prompts), pad_token_id(tokenizer), device)


def shared_prefix_length(rows: list[list[int]]) -> int:
    """Tokens every row starts with (system prompt, template), leaving each row at least one own token."""
    limit = min(len(r) for r in rows) - 1
    n = 0
    while n < limit and all(r[n] == rows[0][n] for r in rows):
        n += 1
    return n


def model_device(model) -> torch.device:
    return next(model.parameters()).device


def batch_starts(n_prompts: int, batch_size: int, desc: str, progress: bool | None = None):
    """Start index of every batch, with a tqdm bar (shown by default when there is more than one batch)."""
    if batch_size < 1:
        raise SidLensError(f"batch size must be at least 1, not {batch_size}")
    show = n_prompts > batch_size if progress is None else progress
    return tqdm(range(0, n_prompts, batch_size), desc=desc, unit="batch", disable=not show)
