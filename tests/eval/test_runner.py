"""The evaluation runner on a tiny-model checkpoint over real MovieLens-100k users.

The checkpoint is registered only as a folder (sidlens.json + run.json), as on a clean clone, so
the first evaluation also exercises registering a run from its committed folder."""
from __future__ import annotations

import json

import pytest

from core.cli import main
from core.errors import SidLensError
from core.store import Store

KEYS = ["run", "users", "precision", "hr@1", "hr@5", "hr@10", "ndcg@1", "ndcg@5", "ndcg@10", "invalid_rate", "cand20_hr@1"]


def test_evaluate_is_consistent_stored_and_deterministic(checkpoint):
    from core.eval.runner import evaluate

    first = evaluate("tiny", users=10, batch_size=4, progress=False)
    assert list(first) == KEYS and first["users"] == 10
    assert first["precision"] == "fp32" and all(0.0 <= first[k] <= 1.0 for k in KEYS[3:])
    store = Store()
    rows = store.rows("user_results", "run = 'tiny' and split = 'test@10'")
    assert len(rows) == 10 and all(len(r["topk"]) == 10 for r in rows)
    ranks = [r["rank"] for r in rows]
    assert first["hr@10"] == sum(r is not None for r in ranks) / 10
    assert first["hr@1"] == sum(r == 1 for r in ranks) / 10
    assert store.metrics("tiny", "test@10")["ndcg@10"] == pytest.approx(first["ndcg@10"])
    assert store.run("tiny")["config"]["evals"]["test@10"]["beams"] == 10
    assert json.loads((checkpoint / "metrics.json").read_text())["test@10"]["hr@10"] == first["hr@10"]
    assert "test@10" in (checkpoint / "README.md").read_text()
    from core.data.registry import load_dataset
    from core.data.split import Split
    split = Split(load_dataset("ml-100k"))
    for row in rows:  # items seen before the target are never recommended
        assert not set(row["topk"]) & split.seen_before(row["user_id"], "test")
    assert evaluate("tiny", users=10, batch_size=4, progress=False) == first  # re-running reproduces it


def test_shared_prompt_pass_matches_decoding(checkpoint):
    """One prefill, three measurements, each equal to its own decoder run alone: the top-k to
    constrained_topk's, the greedy answers to generate_sids', candidate likelihoods to the beam's SID scores."""
    from core.decode.beam import constrained_topk
    from core.decode.trie import SidTrie
    from core.decode.unconstrained import generate_sids
    from core.eval.loading import load_for_eval
    from core.eval.sid_likelihood import rank_answer_and_score

    loaded = load_for_eval("tiny", "fp32")
    model, tokenizer, sidmap = loaded.model, loaded.tokenizer, loaded.sidmap
    split = loaded.split
    examples = split.examples("test")[:5]
    prompts = loaded.prompts(examples)
    trie = SidTrie(sidmap, tokenizer)
    exclude = [split.seen_before(ex.user_id, "test") for ex in examples]
    alone = constrained_topk(model, tokenizer, trie, prompts, k=5, exclude=exclude, batch_size=2)
    lists = [[r.item_id for r in rec] for rec in alone]
    recs, scores, texts = rank_answer_and_score(model, tokenizer, trie, prompts, lists, k=5, exclude=exclude,
                                                batch_size=3)
    assert [[r.item_id for r in rec] for rec in recs] == lists
    assert texts == [text for text, _ in generate_sids(model, tokenizer, sidmap, prompts, batch_size=2)]
    for rec, row in zip(alone, scores):
        assert row == pytest.approx([r.score for r in rec], abs=1e-4)


def test_unknown_run_is_one_line_error(checkpoint, capsys):
    from core.eval.runner import evaluate

    with pytest.raises(SidLensError, match="unknown run 'nope'"):
        evaluate("nope", progress=False)
    assert main(["eval", "--run", "nope", "--json"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown run 'nope'")


def test_prompted_candidates_are_listed_answered_and_stored(checkpoint, monkeypatch, capsys):
    """`eval --prompted-candidates`: each user's prompt lists their 20 seeded candidates (SID and title),
    the item the answer names is scored against them, the listed SIDs' likelihoods under that prompt
    give the likelihood HR@1, and all three metrics reach the store and metrics.json. Generation and
    scoring run for real; their answers and scores are then replaced by known ones so the metrics are
    predictable."""
    import core.eval.sid_likelihood as sid_likelihood
    from core.data.registry import load_dataset
    from core.data.split import Split
    from core.decode.unconstrained import answer_item
    from core.eval.candidates import sample_candidates
    from core.sid.build import load_sidmap

    dataset, sidmap = load_dataset("ml-100k"), load_sidmap("ml-100k")
    split = Split(dataset)
    examples = split.examples("test")[:6]
    lists = [sample_candidates(split, ex.user_id) for ex in examples]
    real_score, seen = sid_likelihood.answer_and_score, []

    def answer_and_score(model, tokenizer, trie, prompts, candidates, **kwargs):
        texts, scores = real_score(model, tokenizer, trie, prompts, candidates, **kwargs)
        assert len(texts) == len(prompts) and [len(row) for row in scores] == [len(c) for c in candidates]
        assert all(answer_item(sidmap, t) is None or answer_item(sidmap, t) in sidmap.codes for t in texts)
        seen.extend(prompts)
        texts, scores = [], []
        for i, (ex, cands) in enumerate(zip(examples, lists)):
            other = next(c for c in cands if c != ex.target)
            texts.append([sidmap.sid_text(ex.target), sidmap.sid_text(other), "<a_0> no item"][i % 3])
            scores.append([0.0 if (c == ex.target) == (i < 4) else -1.0 for c in cands])  # 4 hits, then misses
        return texts, scores

    monkeypatch.setattr(sid_likelihood, "answer_and_score", answer_and_score)
    assert main(["eval", "--run", "tiny", "--users", "6", "--batch-size", "3", "--prompted-candidates",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(seen) == 6
    for prompt, ex, cands in zip(seen, examples, lists):
        assert all(f"{sidmap.sid_text(c)} {dataset.items[c].title}" in prompt for c in cands)
        assert sidmap.sid_text(ex.history[-1]) in prompt
    assert result["cand20_prompted_lik_hr@1"] == pytest.approx(4 / 6)
    assert result["cand20_prompted_hr@1"] == pytest.approx(2 / 6)
    assert result["cand20_valid_ratio"] == pytest.approx(4 / 6)
    stored = Store().metrics("tiny", "test@6")
    on_disk = json.loads((checkpoint / "metrics.json").read_text())["test@6"]
    for key in ("cand20_prompted_hr@1", "cand20_valid_ratio", "cand20_prompted_lik_hr@1", "cand20_hr@1"):
        assert stored[key] == pytest.approx(result[key]) and on_disk[key] == pytest.approx(result[key])
    assert Store().run("tiny")["config"]["evals"]["test@6"]["prompted"] is True
    # each user's answer is kept (store and the shipped traces), so paired CIs of the prompted protocol work
    rows = Store().rows("user_results", "run = ? and split = ?", ["tiny", "test@6"], order_by="rowid")
    expected = [[(ex.target, 1), (next(c for c in cands if c != ex.target), 1), ("", 0)][i % 3]
                for i, (ex, cands) in enumerate(zip(examples, lists))]
    assert [(r["pick"], r["pick_listed"]) for r in rows] == expected
    shipped = [json.loads(line) for line in (checkpoint / "traces.jsonl").read_text().splitlines()]
    assert [(t["pick"], t["pick_listed"]) for t in shipped] == [(r["pick"], r["pick_listed"]) for r in rows]
    # the likeliest listed candidate: the target for the first 4, a 19-way tie (no candidate) after
    assert [r["pick_lik"] for r in rows] == [ex.target for ex in examples[:4]] + ["", ""]
    assert [t["pick_lik"] for t in shipped] == [r["pick_lik"] for r in rows]
    assert main(["runs", "compare", "tiny", "tiny", "--split", "test@6", "--metrics",
                 "cand20_prompted_hr@1,cand20_valid_ratio,cand20_prompted_lik_hr@1", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)["metrics"]
    assert table["cand20_prompted_lik_hr@1"]["a"]["value"] == pytest.approx(4 / 6)
    assert table["cand20_prompted_hr@1"]["a"]["value"] == pytest.approx(2 / 6)
    assert table["cand20_valid_ratio"]["b"]["value"] == pytest.approx(4 / 6)
