"""One recommendation for one history, step by step, as the Reasoning page shows it.

1. `prompt_for`: the canonical recommendation prompt (`core.llm.prompts`) through the model's chat
   template, with the notes about any adjustment (a history longer than the window is truncated).
2. `stream`: the model's own continuation, token by token (`core.decode.stream.stream_text`,
   greedy by default), stopping after `</think>`: a reasoning variant writes its analysis there; a
   variant trained to answer directly writes its SID and stops at end of turn.
3. `rank`: the top-K real items by constrained beam search over the SID trie, continuing from the
   prompt plus the reasoning (everything up to and including `</think>`), the history excluded, with
   per-level probabilities and the beam tree. This is how reasoning variants are evaluated too
   (reason greedily, then search), so what the page shows is what the metrics measure.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Iterator

from core.data.schema import Dataset
from core.sid.sidmap import SidMap

THINK_END = "</think>"


def prompt_for(tokenizer, sidmap: SidMap, dataset: Dataset, history: list[str], profile: str | None = None,
               window: int = 20) -> tuple[str, list[str]]:
    """(rendered prompt, notes about adjustments to the input)."""
    from core.llm.prompts import recommendation_messages, render_prompt

    messages, notes = recommendation_messages(sidmap, dataset, history, profile=profile, window=window)
    return render_prompt(tokenizer, messages), notes


def stream(model, tokenizer, prompt: str, max_new_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
    """The continuation of `prompt`, chunk by chunk, ending at `</think>` or end of turn."""
    from core.decode.stream import stream_text

    return stream_text(model, tokenizer, prompt, max_new_tokens=max_new_tokens, temperature=temperature,
                       stop_at=THINK_END)


def reasoning_part(generated: str) -> str:
    """What the beam search continues from: the text through `</think>`, or nothing when the model
    did not reason (its own unconstrained answer is then replaced by the search)."""
    head, found, _ = generated.partition(THINK_END)
    return head + found if found else ""


def rank(model, tokenizer, trie, prompt: str, generated: str, history: list[str], k: int = 10,
         num_beams: int | None = None, exclude_history: bool = True) -> tuple[list[dict], list]:
    """(top-k as dicts {"item_id", "sid", "score", "level_probs"}, beam tree per level)."""
    from core.decode.beam import constrained_topk

    results, trees = constrained_topk(model, tokenizer, trie, [prompt + reasoning_part(generated)], k=k,
                                      num_beams=num_beams, exclude=[set(history)] if exclude_history else None,
                                      return_tree=True)
    return [asdict(r) for r in results[0]], trees[0]


def token_count(tokenizer, text: str) -> int:
    """Tokens in generated text (for tokens/s), counted by the model's own tokenizer."""
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])
