"""Shared-prefix attention (`core.decode.tree`): continuations appended to a prompt's cache row score as
if each ran alone after that prompt, and the mask helper lays chains out independently."""
from __future__ import annotations

import pytest
import torch

from core.decode.inputs import pad_left, pad_token_id, tokenize_prompts
from core.decode.tree import chains, forward_tree


def test_chains_see_their_own_earlier_tokens_only():
    mask = chains(3, 2)
    assert mask.shape == (6, 6)
    assert mask.tolist()[3] == [False, False, True, True, False, False]  # chain 1, second token
    assert mask.diagonal().all() and not mask.triu(1).any()
    assert mask.sum().item() == 3 * 3  # each chain of 2 sees 1 + 2 tokens


@torch.no_grad()
def test_tree_logits_equal_each_continuation_alone(toy):
    """Two padded prompts, each continued by three different 2-token chains in ONE pass, against every
    prompt + chain decoded as its own sequence; the cache is back to the prompt after cropping."""
    model, tokenizer = toy["model"], toy["tokenizer"]
    prompts = toy["prompts"][:2]
    rows = tokenize_prompts(tokenizer, prompts)
    assert len(rows[0]) != len(rows[1])  # left padding is exercised
    batch = pad_left(rows, pad_token_id(tokenizer), torch.device("cpu"))
    out = model(**batch, use_cache=True)
    cache, width = out.cache, batch["input_ids"].shape[1]
    sid = [tokenizer.convert_tokens_to_ids(t) for t in toy["sidmap"].sid_tokens("1")]
    other = [tokenizer.convert_tokens_to_ids(t) for t in toy["sidmap"].sid_tokens("2")]
    continuations = [sid[:2], other[:2], [sid[0], other[1]]]
    tokens = torch.tensor([sum(continuations, [])] * 2)
    positions = batch["position_ids"][:, -1:] + torch.tensor([1, 2] * 3)
    sees_cached = batch["attention_mask"].bool()[:, None].expand(-1, tokens.shape[1], -1)
    logits = forward_tree(model, cache, tokens, positions, sees_cached, chains(3, 2))
    assert cache.get_seq_length() == width + 6
    cache.crop(-6)
    assert cache.get_seq_length() == width
    for u, row in enumerate(rows):
        for c, cont in enumerate(continuations):
            alone = model(input_ids=torch.tensor([row + cont])).logits[0, -2:]
            assert logits[u, 2 * c:2 * c + 2] == pytest.approx(alone, abs=1e-4)
