"""Catalogue facts: every fact of a kind appears exactly as often as asked, rows hold `per_row` facts,
answers end on the newline the probe stops at, and the prompts are the probe's."""
from __future__ import annotations

from collections import Counter

import pytest

from core.corpus.context import CorpusContext
from core.corpus.facts import KINDS, PROMPTS, item_facts, pages


@pytest.fixture
def ctx(tiny_dataset, sidmap_for):
    return CorpusContext(tiny_dataset, sidmap_for(tiny_dataset))


def test_pages_cover_each_fact_as_often_as_asked(ctx):
    rows = pages(ctx, {"sid->title": 3, "title->sid": 2, "sid->genres": 0.5}, per_row=7, seed=1)
    assert all(len(r) == 7 for r in rows[:-1]) and 1 <= len(rows[-1]) <= 7
    counts = Counter((f.item_id, f.kind) for r in rows for f in r)
    n = len(ctx.catalogue)
    assert all(counts[(i, "sid->title")] == 3 and counts[(i, "title->sid")] == 2 for i in ctx.catalogue)
    assert sum(v for (_, k), v in counts.items() if k == "sid->genres") == round(0.5 * n)
    assert pages(ctx, {"sid->title": 3}, per_row=7, seed=1) == pages(ctx, {"sid->title": 3}, per_row=7, seed=1)
    assert pages(ctx, {"sid->title": 3}, per_row=7, seed=1) != pages(ctx, {"sid->title": 3}, per_row=7, seed=2)


def test_facts_say_the_items_title_sid_and_genres(ctx):
    item = ctx.catalogue[3]
    by_kind = {f.kind: f for f in item_facts(ctx, item)}
    assert set(by_kind) == set(KINDS)
    assert by_kind["sid->title"].prompt == PROMPTS["sid->title"].format(sid=ctx.sid(item))
    assert by_kind["sid->title"].answer == f" {ctx.title(item)}\n"
    assert by_kind["title->sid"].answer == ctx.sid(item) + "\n"
    assert by_kind["sid->genres"].answer == " " + ", ".join(ctx.dataset.items[item].genres) + "\n"


def test_bad_arguments(ctx):
    with pytest.raises(ValueError, match="unknown fact kinds: plot"):
        pages(ctx, {"plot": 1}, per_row=4)
    with pytest.raises(ValueError, match="per_row"):
        pages(ctx, {"sid->title": 1}, per_row=0)
