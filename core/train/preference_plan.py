"""What a preference run trains on, fixed before training starts, and its reference log-probs.

A plan is a list of `PlanRow`s: a rendered prompt and its responses as token ids, the preferred one
first. For item preferences (the default) a response is an item's SID tokens followed by EOS,
exactly what SFT's completions end with, and the prompt is the parent's recommendation prompt
(`core.llm.prompts.variant_messages`, no profile), the one the evaluation asks; with the candidate
protocol (`candidate_plan`) it is the pick-from-20-candidates prompt and the negatives are other
candidates of the same list. For labeled pairs (`--pairs`) the
prompt is the trace's stored prompt and the responses are the chosen and rejected texts + EOS.
Fixing the plan up front is what lets the reference be scored once, before the policy exists.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from core.decode.logps import completion_logps
from core.errors import SidLensError


@dataclass(frozen=True)
class PlanRow:
    prompt: str
    responses: tuple[tuple[int, ...], ...]   # preferred first, then the negatives
    labels: tuple[str, ...]                  # item ids (or "chosen"/"rejected") of the responses
    user_id: str = ""


def shuffled_cycle(rows: list, n: int, seed: int) -> list:
    """`n` rows: seeded shuffles of `rows` one after another (a new order on each pass)."""
    rng, out = random.Random(seed), []
    while len(out) < n:
        order = list(rows)
        rng.shuffle(order)
        out += order[:n - len(out)]
    return out


def response_ids(tokenizer, text_or_tokens: str | list[str]) -> tuple[int, ...]:
    """Token ids of a response (text, or a list of added tokens such as SID tokens) ending with EOS."""
    if isinstance(text_or_tokens, str):
        ids = tokenizer(text_or_tokens, add_special_tokens=False)["input_ids"]
    else:
        ids = tokenizer.convert_tokens_to_ids(text_or_tokens)
    eos = tokenizer.eos_token_id
    return tuple(ids) + ((eos,) if eos is not None and (not ids or ids[-1] != eos) else ())


def item_plan(model, tokenizer, trie, dataset, meta: dict, settings, n: int) -> list[PlanRow]:
    """`n` training examples (seeded order) with their K negatives drawn by `settings.sampler`, on
    the parent's prompt (`variant_messages` of its checkpoint `meta`, no profile)."""
    from core.data.split import Split
    from core.llm.prompts import history_window, render_prompt, variant_messages
    from core.train.negatives import sample_negatives

    split = Split(dataset, window=history_window(meta))
    examples = shuffled_cycle(split.examples("train"), n, settings.seed)
    sidmap = trie.sidmap
    prompts = [render_prompt(tokenizer, variant_messages(meta, sidmap, dataset, ex.history)[0]) for ex in examples]
    negatives = sample_negatives(settings.sampler, split, examples, settings.negatives, settings.seed, model=model,
                                 tokenizer=tokenizer, trie=trie, prompts=prompts, batch_size=settings.batch_size)
    return [PlanRow(prompt, tuple(response_ids(tokenizer, sidmap.sid_tokens(i)) for i in (ex.target, *negs)),
                    (ex.target, *negs), ex.user_id)
            for ex, prompt, negs in zip(examples, prompts, negatives)]


def candidate_plan(tokenizer, sidmap, dataset, meta: dict, settings, n: int) -> list[PlanRow]:
    """`n` training examples (seeded order) on the candidate-list prompt, as S-DPO trains: each lists
    the target and 19 items the user never saw (`core.eval.candidates.candidates_for`, keyed by seed,
    user and history length), and its K negatives are drawn uniformly from the other 19 (seeded)."""
    from core.data.split import Split
    from core.eval.candidates import N_CANDIDATES, candidates_for
    from core.llm.prompts import history_window, render_prompt, variant_messages

    if settings.negatives > N_CANDIDATES - 1:
        raise SidLensError(f"--negatives {settings.negatives} needs {settings.negatives + 1} candidates; a list "
                           f"holds {N_CANDIDATES}")
    split = Split(dataset, window=history_window(meta))
    examples = shuffled_cycle(split.examples("train"), n, settings.seed)
    rows = []
    for ex in examples:
        key = f"{settings.seed}:{ex.user_id}:{len(ex.history)}"
        candidates = candidates_for(split, ex.user_id, ex.target, N_CANDIDATES, key)
        others = [c for c in candidates if c != ex.target]
        negs = random.Random(f"{key}:negatives").sample(others, settings.negatives)
        prompt = render_prompt(tokenizer, variant_messages(meta, sidmap, dataset, ex.history, candidates=candidates)[0])
        rows.append(PlanRow(prompt, tuple(response_ids(tokenizer, sidmap.sid_tokens(i)) for i in (ex.target, *negs)),
                            (ex.target, *negs), ex.user_id))
    return rows


def pair_plan(path: str, tokenizer, n: int, seed: int) -> list[PlanRow]:
    """`n` rows from a preference-pair file (`core.labels` format), reshuffled on each pass."""
    from core.labels import load_pairs

    rows = [PlanRow(p["prompt"], (response_ids(tokenizer, p["chosen"]), response_ids(tokenizer, p["rejected"])),
                    ("chosen", "rejected")) for p in load_pairs(path)]
    return shuffled_cycle(rows, n, seed)


@torch.no_grad()
def reference_logps(model, tokenizer, plan: list[PlanRow], batch_size: int, progress: bool = True) -> torch.Tensor:
    """[len(plan), 1 + K] summed log-probs of every planned response under the frozen reference."""
    out = []
    for start in tqdm(range(0, len(plan), batch_size), desc="reference log-probs", unit="batch", disable=not progress):
        rows = plan[start:start + batch_size]
        out.append(completion_logps(model, tokenizer, [r.prompt for r in rows],
                                    [[list(ids) for ids in r.responses] for r in rows]).float().cpu())
    return torch.cat(out)
