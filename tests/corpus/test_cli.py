"""`python -m core corpus build|show` on the real MovieLens-100k with real (RQ-KMeans) SIDs."""
from __future__ import annotations

import re

import pytest

from core.cli import main
from core.corpus.build import corpus_info, read_corpus


@pytest.fixture
def ml100k(monkeypatch, tmp_path):
    """The real ml-100k, with a SID map saved where the SID layer keeps it. The map is derived from
    the metadata (first genre, decade, rank) instead of `sids build`, whose item embedding takes
    about a minute on this machine; the corpus only needs some unique SID per item."""
    from core.data.registry import load_dataset
    from core.sid.build import sidmap_path
    from core.sid.sidmap import SidMap

    dataset = load_dataset("ml-100k")
    genres = sorted({g for item in dataset.items.values() for g in item.genres})
    codes = {i: (genres.index(item.genres[0]) if item.genres else 0, (item.year or 1900) // 10 % 10, n)
             for n, (i, item) in enumerate(sorted(dataset.items.items()))}
    SidMap("ml-100k", "metadata", [len(genres), 10, len(codes)], codes).save(sidmap_path("ml-100k"))


def test_build_prints_counts_and_show_prints_examples(ml100k, capsys):
    from core.sid.build import load_sidmap

    assert main(["corpus", "build", "--dataset", "ml-100k", "--max-examples", "600"]) == 0
    out = capsys.readouterr().out
    counts = {int(t): int(n) for t, n in re.findall(r"task (\d) .*?(\d+)\n", out)}
    assert sum(counts.values()) == 600 and counts[1] == 240 and set(counts) == set(range(1, 9))
    sidmap = load_sidmap("ml-100k")
    assert corpus_info("ml-100k")["sid_map_hash"] == sidmap.hash
    for rec in read_corpus("ml-100k", task=2):
        if rec["template"] < 4:      # title -> SID phrasings
            assert rec["completion"][0]["content"] == sidmap.sid_text(rec["item_id"])

    assert main(["corpus", "show", "--dataset", "ml-100k", "--task", "5", "--n", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("--- task 5 (item narrative)") == 3 and out.count("[assistant]") == 3
    shown = re.findall(r"item (\d+)  \[", out)
    assert all(sidmap.sid_text(i) in out for i in shown)


def test_user_errors_are_one_line(capsys):
    assert main(["corpus", "show", "--dataset", "ml-100k"]) == 2
    assert main(["corpus", "build", "--dataset", "ml-100k", "--weights", "1=lots"]) == 2
    assert main(["corpus", "build", "--dataset", "ml-100k", "--teacher", "openai"]) == 2
    errors = capsys.readouterr().err.strip().split("\n")
    assert len(errors) == 3 and all(e.startswith("error: ") for e in errors)
    assert "corpus build" in errors[0] and "1=lots" in errors[1] and "--base-url" in errors[2]
