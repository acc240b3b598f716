"""Reference constrained search through HF `generate(num_beams, prefix_allowed_tokens_fn)`.

Kept as the yardstick for `core.decode.beam.constrained_topk`: the tests check that both return
the same items and scores, and bench/bench_decode.py times both. HF's beam search takes the
log-softmax over the full vocabulary and then applies the constraint (disallowed tokens -> -inf)
without renormalising; `length_penalty=0` makes its sequence score the plain sum of the
per-level log-probs. That is exactly the trie search's scoring.
"""
from __future__ import annotations

import math

import torch
from transformers import GenerationConfig

from core.decode.inputs import batch_starts, encode_prompts, model_device, pad_token_id
from core.decode.results import Recommendation, check_request, recommendation
from core.decode.trie import SidTrie


@torch.no_grad()
def hf_constrained_topk(model, tokenizer, trie: SidTrie, prompts: list[str], k: int = 10, num_beams: int | None = None,
                        exclude: list[set[str]] | None = None, batch_size: int = 8) -> list[list[Recommendation]]:
    """Same contract as `constrained_topk` (without the tree), computed by `model.generate`."""
    num_beams = check_request(trie, prompts, k, num_beams, exclude)
    pad = pad_token_id(tokenizer)
    config = GenerationConfig(num_beams=num_beams, num_return_sequences=num_beams, max_new_tokens=trie.depth,
                              do_sample=False, length_penalty=0.0, early_stopping=True, pad_token_id=pad,
                              eos_token_id=pad, output_scores=True, return_dict_in_generate=True)
    results = []
    for start in batch_starts(len(prompts), batch_size, "HF constrained top-k", progress=False):
        chunk = prompts[start:start + batch_size]
        exclusions = [trie.exclusion(exclude[start + i] if exclude else None) for i in range(len(chunk))]
        batch = encode_prompts(tokenizer, chunk, model_device(model))
        width = batch["input_ids"].shape[1]

        def allowed(batch_id: int, ids: torch.Tensor) -> list[int]:
            # an exhausted branch must still allow something: HF rejects an empty list
            return trie.allowed(ids[width:].tolist(), exclusions[batch_id]) or [pad]

        out = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                             generation_config=config, prefix_allowed_tokens_fn=allowed)
        token_logps = model.compute_transition_scores(out.sequences, out.scores, out.beam_indices, normalize_logits=False)
        for u in range(len(chunk)):
            recs = []
            for j in range(u * num_beams, (u + 1) * num_beams):
                path, score = out.sequences[j, width:].tolist(), float(out.sequences_scores[j])
                if trie.item_for(path) is None or score < -1e8:  # a padded (dead) hypothesis
                    continue
                recs.append(recommendation(trie, path, score, [math.exp(x) for x in token_logps[j].tolist()]))
            results.append(sorted(recs, key=lambda r: -r.score)[:k])
    return results
