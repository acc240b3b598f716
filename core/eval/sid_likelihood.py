"""One prompt pass for three measurements: the constrained top-K, candidate SID likelihoods and the
greedy free answer.

- Top-K: `core.decode.beam.constrained_topk` (HR@K / NDCG@K).
- Candidate likelihoods (the LM side of the 20-candidate protocol): the score of candidate item i
  is log p(sid_i | prompt) = the sum over levels of the log-softmax over the FULL vocabulary (the
  score the constrained beam search gives a SID, so both rankings agree).
- Greedy answer: what the model writes when nothing forces it onto the trie (`levels + 1` tokens),
  for the invalid-SID rate; the same as `core.decode.unconstrained.generate_sids` with one beam.

All three start from the prompt, so each batch of prompts is prefilled ONCE, inside the beam search
(a separate pass for the last two doubled an evaluation's cost); the greedy steps and the
candidates' SIDs are appended to the prompt's own cache row and cropped off again, the candidates
with shared-prefix attention (`core.decode.tree`, as the beam search), so a candidate costs only
its `levels - 1` SID tokens and the prompt's cache is never copied. Hand-written because
transformers has no "score continuations sharing a prefix" helper and `generate` would prefill the
prompt again.
"""
from __future__ import annotations

import torch

from core.decode.beam import constrained_topk
from core.decode.inputs import stop_token_ids
from core.decode.tree import chains, forward_tree
from core.decode.trie import SidTrie


def _greedy(model, cache, logits, batch: dict, steps: int, stop_ids: set[int]) -> list[list[int]]:
    """Greedy continuation of a prefilled batch; each row is cut at its first stop token. The cache is
    cropped back to the prompt afterwards."""
    attention, positions = batch["attention_mask"], batch["position_ids"][:, -1:]
    rows = []
    for step in range(steps):
        token = logits.argmax(-1)
        rows.append(token)
        if step == steps - 1:
            break
        attention = torch.cat([attention, attention.new_ones(len(token), 1)], 1)
        positions = positions + 1
        logits = model(input_ids=token[:, None], attention_mask=attention, position_ids=positions, cache=cache,
                       use_cache=True).logits[:, -1]
    if steps > 1:
        cache.crop(-(steps - 1))
    out = []
    for ids in torch.stack(rows, 1).tolist():
        cut = next((j for j, t in enumerate(ids) if t in stop_ids), len(ids))
        out.append(ids[:cut])
    return out


def _candidate_scores(model, trie: SidTrie, cache, first_logp, batch: dict, candidates: list[list[str]]):
    """scores[u][j] = log p(SID of candidates[u][j] | prompt u): level 1 from the prefill's log-probs,
    the deeper levels from one pass in which every candidate's SID is a chain after its user's prompt
    (`core.decode.tree`; a user with fewer candidates repeats its first). The cache is cropped back."""
    device, counts = first_logp.device, [len(c) for c in candidates]
    width = max(counts)
    paths = torch.tensor([[trie.path(trie.sidmap.sid(i)) for i in cands + cands[:1] * (width - len(cands))]
                          for cands in candidates], device=device)  # [users, width, depth]
    scores = first_logp.gather(1, paths[:, :, 0])
    if trie.depth > 1:
        steps = trie.depth - 1
        tokens = paths[:, :, :-1].reshape(len(candidates), width * steps)  # position j predicts level j + 1
        offsets = torch.arange(1, steps + 1, device=device).repeat(width)
        sees_cached = batch["attention_mask"].bool()[:, None].expand(-1, tokens.shape[1], -1)
        logits = forward_tree(model, cache, tokens, batch["position_ids"][:, -1:] + offsets, sees_cached,
                              chains(width, steps, device))
        cache.crop(-tokens.shape[1])
        logp = torch.log_softmax(logits.float(), dim=-1).view(len(candidates), width, steps, -1)
        scores = scores + logp.gather(-1, paths[:, :, 1:, None]).squeeze(-1).sum(-1)
    return [row[:n] for row, n in zip(scores.tolist(), counts)]


@torch.no_grad()
def rank_answer_and_score(model, tokenizer, trie: SidTrie, prompts: list[str], candidates: list[list[str]] | None,
                          k: int = 10, num_beams: int | None = None, exclude: list[set[str]] | None = None,
                          batch_size: int = 8, progress: bool = False, prefill=None):
    """(top-`k` `Recommendation`s per prompt from the constrained beam search, `scores[u][j]` = log p(SID of
    candidates[u][j] | prompts[u]) or None without candidates, the greedy answer text of each prompt with
    special tokens dropped), all from ONE prefill per batch (`constrained_topk`'s `after_prefill`;
    `prefill` is passed on to it)."""
    if candidates is not None and len(prompts) != len(candidates):
        raise ValueError(f"{len(prompts)} prompts but {len(candidates)} candidate lists")
    stop_ids = stop_token_ids(model, tokenizer)
    scores, answers = [] if candidates is not None else None, []

    def measure(start: int, prefilled) -> None:
        logp, cache, attention, positions = prefilled
        batch = {"attention_mask": attention, "position_ids": positions[:, None]}
        answers.extend(_greedy(model, cache, logp, batch, trie.depth + 1, stop_ids))
        if candidates is not None:
            scores.extend(_candidate_scores(model, trie, cache, logp, batch, candidates[start:start + len(logp)]))

    recs = constrained_topk(model, tokenizer, trie, prompts, k=k, num_beams=num_beams, exclude=exclude,
                            batch_size=batch_size, progress=progress, after_prefill=measure, prefill=prefill)
    texts = tokenizer.batch_decode(answers, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    return recs, scores, texts


def answer_and_score(model, tokenizer, trie: SidTrie, prompts: list[str], candidates: list[list[str]],
                     batch_size: int = 8, progress: bool = False) -> tuple[list[str], list[list[float]]]:
    """(the greedy answer text of each prompt, scores[u][j] = log p(SID of candidates[u][j] | prompts[u])):
    the candidate-list protocol's free answer and its listed candidates' likelihoods from one prefill
    (the search beside them is a single beam of one item, a few decode steps)."""
    _, scores, texts = rank_answer_and_score(model, tokenizer, trie, prompts, candidates, k=1, num_beams=1,
                                             batch_size=batch_size, progress=progress)
    return texts, scores
