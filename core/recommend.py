"""One recommendation for one history, step by step, as the Reasoning page shows it.

The same procedure the evaluation runs (`core.eval.runner`, `core.eval.traces`), for one user:
1. `prompt_for`: the canonical recommendation prompt (`core.llm.prompts`) through the model's chat
   template; reasoning variants (checkpoint meta `"think": true`) get the think-first instruction.
   Notes say what was adjusted (a history longer than the window is truncated). A profile is
   optional: the evaluation prompt has none, so adding one shows how the model reacts to it.
2. `stream`: the model's continuation token by token (`core.decode.stream.stream_text`, greedy by
   default, up to the evaluation's reasoning budget), stopping after `</think>`. A direct variant
   writes its SID and ends its turn instead.
3. `rank`: the top-K real items by constrained beam search over the SID trie, continuing from the
   prompt plus the reasoning closed as the evaluation closes it (`close_reasoning`: a reasoning cut
   off by the budget gets its `</think>`; a direct variant's own unconstrained answer is dropped and
   the search starts at the prompt), the history excluded, with per-level probabilities and the
   beam tree for drawing.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Iterator

from core.data.schema import Dataset
from core.eval.traces import close_reasoning
from core.llm.prompts import MAX_REASONING_TOKENS, THINK_END
from core.sid.sidmap import SidMap

__all__ = ["MAX_REASONING_TOKENS", "prompt_for", "stream", "rank", "token_count", "decode_rate"]


def prompt_for(tokenizer, meta: dict, sidmap: SidMap, dataset: Dataset, history: list[str],
               profile: str | None = None) -> tuple[str, list[str]]:
    """(rendered prompt, notes about adjustments to the input) for a checkpoint with `meta`."""
    from core.llm.prompts import render_prompt, variant_messages

    messages, notes = variant_messages(meta, sidmap, dataset, history, profile=profile)
    return render_prompt(tokenizer, messages), notes


def stream(model, tokenizer, prompt: str, max_new_tokens: int = MAX_REASONING_TOKENS,
           temperature: float = 0.0) -> Iterator[str]:
    """The continuation of `prompt`, chunk by chunk, ending at `</think>` or end of turn."""
    from core.decode.stream import stream_text

    return stream_text(model, tokenizer, prompt, max_new_tokens=max_new_tokens, temperature=temperature,
                       stop_at=THINK_END)


def rank(model, tokenizer, trie, prompt: str, generated: str, history: list[str], k: int = 10,
         exclude_history: bool = True) -> tuple[list[dict], list]:
    """(top-k as dicts {"item_id", "sid", "score", "level_probs"}, beam tree per level)."""
    from core.decode.beam import constrained_topk

    results, trees = constrained_topk(model, tokenizer, trie, [prompt + close_reasoning(generated)[0]], k=k,
                                      exclude=[set(history)] if exclude_history else None, return_tree=True)
    return [asdict(r) for r in results[0]], trees[0]


def token_count(tokenizer, text: str) -> int:
    """Tokens in generated text (for tokens/s), counted by the model's own tokenizer."""
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def decode_rate(tokens: int, seconds: float, first_token_s: float) -> float:
    """Tokens per second after the first token (the prefill is reported apart as time to first token)."""
    return (tokens - 1) / (seconds - first_token_s) if tokens > 1 and seconds > first_token_s else 0.0
