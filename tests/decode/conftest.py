"""A toy SID map and a tiny Llama (real SmolLM2 tokenizer) that has learnt a few prompt -> SID pairs.

Training for a few dozen steps makes the model's distributions peaked and meaningful: searches
must find the learnt items, scores do not tie (random 2-layer models give near-uniform logits, so
"same items as HF" would be decided by float noise), and greedy generation really emits SIDs.
"""
from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
import torch

from core.decode.trie import SidTrie
from core.llm.prompts import render_prompt
from core.llm.sid_tokens import add_sid_tokens
from core.llm.tiny import tiny_model
from core.sid.sidmap import SidMap

STEPS = 160


def toy_sidmap(n_items: int = 150, sizes=(6, 5, 6), seed: int = 0) -> SidMap:
    rng = random.Random(seed)
    codes: dict[str, tuple[int, ...]] = {}
    used = set()
    while len(codes) < n_items:
        sid = tuple(rng.randrange(s) for s in sizes)
        if sid not in used:
            used.add(sid)
            codes[str(len(codes) + 1)] = sid
    return SidMap("toy", "random", list(sizes), codes)


def history_prompt(tokenizer, sidmap: SidMap, history: list[str]) -> str:
    text = "\n".join(sidmap.sid_text(i) for i in history)
    return render_prompt(tokenizer, [{"role": "user", "content": f"Watched:\n{text}\nNext?"}])


@pytest.fixture(scope="session")
def toy():
    """dict(model, tokenizer, sidmap, trie, prompts, histories, targets); prompts differ in length (padding)."""
    torch.set_num_threads(1)
    sidmap = toy_sidmap()
    model, tokenizer = tiny_model(seed=0)
    torch.manual_seed(0)  # add_sid_tokens samples the new rows
    add_sid_tokens(model, tokenizer, sidmap)
    histories = [["1", "2", "3"], ["4"], ["5", "6", "7", "8", "9", "10"]]
    targets = ["11", "12", "13"]
    prompts = [history_prompt(tokenizer, sidmap, h) for h in histories]
    texts = [p + sidmap.sid_text(t) + tokenizer.eos_token for p, t in zip(prompts, targets)]
    batch = tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt")
    batch["position_ids"] = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)  # as at inference
    answer = sidmap.levels + 1  # left padding: every row ends with its SID tokens and EOS
    targets_ids = batch["input_ids"][:, -answer:]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(STEPS):
        # only the answer positions go through the 49k-word output layer: the fixture stays fast
        logits = model(**batch, logits_to_keep=answer + 1).logits[:, :-1]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets_ids.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return dict(model=model, tokenizer=tokenizer, sidmap=sidmap, trie=SidTrie(sidmap, tokenizer), prompts=prompts,
                histories=histories, targets=targets, final_loss=loss.item())


@pytest.fixture
def helpers():
    """The builders above, for tests that need their own map or prompt (conftest is not importable)."""
    return SimpleNamespace(toy_sidmap=toy_sidmap, history_prompt=history_prompt)
