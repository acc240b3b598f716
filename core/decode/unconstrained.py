"""Unconstrained generation: what the model writes when nothing forces it onto the trie.

Constrained search can only emit real items, which hides how well the model has learnt the SID
"language"; generating freely (greedy, or beam search with `num_beams`) and counting the outputs
that name no real item gives the invalid-SID rate reported next to the ranking metrics. The answer
is read after the last `</think>` when there is one (reasoning models), else from the whole text:
the first complete SID (levels in order) names the item; a partial SID, an unused code combination
or no SID at all is invalid.
"""
from __future__ import annotations

import torch

from core.decode.inputs import batch_starts, encode_prompts, model_device, pad_token_id
from core.errors import SidLensError
from core.llm.prompts import THINK_END
from core.sid.sidmap import SidMap


def answer_item(sidmap: SidMap, text: str) -> str | None:
    """The item named by a generated answer, or None when it names none."""
    return sidmap.item_for_text(text.rsplit(THINK_END, 1)[-1])


@torch.no_grad()
def generate_sids(model, tokenizer, sidmap: SidMap, prompts: list[str], num_beams: int = 1,
                  max_new_tokens: int | None = None, batch_size: int = 8,
                  progress: bool | None = None) -> list[tuple[str, str | None]]:
    """(generated text, item id or None) per prompt, greedy (`num_beams=1`) or beam search.

    `max_new_tokens` defaults to the SID's levels plus one (room for the end-of-turn token); pass
    more for models that reason before answering. Special tokens (EOS, padding) are dropped from
    the text; SID tokens are ordinary added tokens and stay.
    """
    max_new_tokens = max_new_tokens or sidmap.levels + 1
    pad = pad_token_id(tokenizer)
    outputs = []
    for start in batch_starts(len(prompts), batch_size, "generate", progress):
        batch = encode_prompts(tokenizer, prompts[start:start + batch_size], model_device(model))
        ids = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                             max_new_tokens=max_new_tokens, num_beams=num_beams, do_sample=False, pad_token_id=pad)
        texts = tokenizer.batch_decode(ids[:, batch["input_ids"].shape[1]:], skip_special_tokens=True,
                                       clean_up_tokenization_spaces=False)
        outputs += [(text, answer_item(sidmap, text)) for text in texts]
    return outputs


def invalid_rate(outputs: list[tuple[str, str | None]]) -> float:
    """Share of `generate_sids` outputs that name no real item."""
    if not outputs:
        raise SidLensError("no generated outputs to score")
    return sum(item is None for _, item in outputs) / len(outputs)
