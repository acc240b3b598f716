"""Catalogue facts in bare prompts, packed many to a training row: how the SID vocabulary is taught.

Each item gives three facts, each a short prompt and its answer (no chat template, no system prompt):

    Title of <a_12><b_18><c_8>:  -> " Toy Story (1995)\n"
    SID of Toy Story (1995):     -> "<a_12><b_18><c_8>\n"
    Genres of <a_12><b_18><c_8>: -> " Animation, Children's, Comedy\n"

Why bare and packed: a chat-formatted task-2 record costs ~80 tokens for ~8 that carry the fact,
and rows of ~13 tokens leave a CPU step dominated by overhead; packing `per_row` facts into one row
(loss on the answers only) gives ~15 facts per ~200-token row, the length of a recommendation
record, so the catalogue can get the many epochs this mapping needs (see STACK_NOTES). Facts of a
row are not masked from each other (pretraining-style packing); the order is a seeded shuffle of
all facts, so two facts of one item share a row only by chance (about 1% of facts at 16 a row).

The same prompts are what the alignment probe (`core.eval.alignment`) asks, so the probe measures
exactly the mapping that was taught. `python -m core corpus show --dataset ml-100k --task 2` shows
the chat-formatted task-2 records, which stay in the corpus for the full preset.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from core.corpus.context import CorpusContext

KINDS = ("sid->title", "title->sid", "sid->genres")
PROMPTS = {"sid->title": "Title of {sid}:", "title->sid": "SID of {title}:", "sid->genres": "Genres of {sid}:"}
NO_GENRE = "no genre"


@dataclass(frozen=True)
class Fact:
    item_id: str
    kind: str
    prompt: str
    answer: str  # what follows the prompt, newline included (the end of the answer when decoding)


def answer_text(kind: str, title: str, sid: str, genres: tuple[str, ...]) -> str:
    if kind == "sid->title":
        return f" {title}\n"
    if kind == "title->sid":
        return f"{sid}\n"
    return " " + (", ".join(genres) or NO_GENRE) + "\n"


def item_facts(ctx: CorpusContext, item_id: str, kinds=KINDS) -> list[Fact]:
    """The facts of one item, in `kinds` order."""
    title, sid = ctx.title(item_id), ctx.sid(item_id)
    genres = ctx.dataset.items[item_id].genres
    return [Fact(item_id, k, PROMPTS[k].format(sid=sid, title=title), answer_text(k, title, sid, genres))
            for k in kinds]


def pages(ctx: CorpusContext, epochs: dict[str, float], per_row: int, seed: int = 0) -> list[list[Fact]]:
    """Rows of `per_row` facts: every catalogue fact of kind k `epochs[k]` times (each pass a new seeded
    order), all kinds shuffled together."""
    if per_row < 1:
        raise ValueError("per_row must be at least 1")
    unknown = sorted(set(epochs) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown fact kinds: {', '.join(unknown)} (known: {', '.join(KINDS)})")
    rng = random.Random(seed)
    stream: list[Fact] = []
    for kind, times in epochs.items():
        facts = [f for item_id in ctx.catalogue for f in item_facts(ctx, item_id, (kind,))]
        total, passes = int(round(times * len(facts))), []
        while len(passes) < total:
            order = facts[:]
            rng.shuffle(order)
            passes.extend(order)
        stream.extend(passes[:total])
    rng.shuffle(stream)
    return [stream[i:i + per_row] for i in range(0, len(stream), per_row)]
