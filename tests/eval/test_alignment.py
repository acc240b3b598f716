"""The alignment probe on the toy world: every decoded SID is a real item, the metrics are
fractions of the probed items, and they are stored with the run and in its checkpoint card."""
from __future__ import annotations

import json

import pytest

from core.cli import main
from core.corpus.context import CorpusContext
from core.eval.alignment import genre_f1, item_answers, normalise, probe_alignment
from core.store import Store


def test_normalise_and_genre_f1():
    assert normalise("  Toy   Story (1995) ") == "toy story (1995)"
    assert genre_f1("Comedy, drama", ("Drama", "Comedy")) == 1.0
    assert genre_f1("Comedy", ("Drama", "Comedy")) == pytest.approx(2 / 3)
    assert genre_f1("Horror", ("Drama",)) == 0.0 and genre_f1("", ()) == 1.0


def test_probe_decodes_real_sids_and_counts_hits(toy_world):
    from core.llm.adapter import load_checkpoint

    model, tokenizer, _ = load_checkpoint(toy_world.sft, toy_world.sidmap)
    ctx = CorpusContext(toy_world.dataset, toy_world.sidmap)
    items = ctx.catalogue[:9]
    answers = item_answers(model, tokenizer, ctx, items, batch_size=9, progress=False)
    assert [a.item_id for a in answers] == items
    assert all(a.sid_item in toy_world.dataset.items for a in answers)  # constrained: always a real item
    # titles differ in length, so the batch is padded: each answer must score as it does alone
    lengths = {len(tokenizer(f"SID of {ctx.title(i)}:")["input_ids"]) for i in items}
    assert len(lengths) > 1
    alone = [item_answers(model, tokenizer, ctx, [i], progress=False)[0] for i in items]
    for batched, single in zip(answers, alone):
        assert batched.sid_score == pytest.approx(single.sid_score, rel=1e-3, abs=1e-3)
    metrics = probe_alignment(model, tokenizer, ctx, items, batch_size=4, progress=False)
    for key, value in metrics.items():
        assert 0.0 <= value <= 1.0, key
        if key != "align_genres_f1":
            assert round(value * 9, 6) == int(round(value * 9)), key  # a count of the 9 items
    assert metrics["align_title_to_sid"] <= metrics["align_title_to_sid_l1"]


def test_cli_stores_the_probe(toy_world, capsys):
    assert main(["eval", "--run", "sft", "--probe", "alignment", "--items", "5", "--json", "--dtype", "fp32"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["items"] == 5 and result["precision"] == "fp32"
    stored = {r["name"]: r["value"] for r in Store().rows("metrics", "run = 'sft' and split = 'align@5'")}
    assert stored == {k: v for k, v in result.items() if k.startswith("align_")}
    card = json.loads((toy_world.sft / "metrics.json").read_text())
    assert card["align@5"]["users"] == 5
    assert main(["eval", "--run", "sft", "--probe", "alignment", "--items", "0"]) == 2
    assert "--items must be at least 1" in capsys.readouterr().err
