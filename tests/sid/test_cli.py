"""The `sids` commands on the real MovieLens-100k.

The prepared dataset and its MiniLM embeddings are copied from the session's `ml100k_sids_dir`
(computing them is the slow part, done once per session and tested in test_embed.py); the SID
map itself is built here by the command under test.
"""
import json
import re
import shutil

import pytest

from core.cli import main


@pytest.fixture(scope="module")
def ml_dir(tmp_path_factory, ml100k_sids_dir):
    root = tmp_path_factory.mktemp("ml100k-data")
    shutil.copytree(ml100k_sids_dir / "datasets" / "ml-100k", root / "datasets" / "ml-100k",
                    ignore=shutil.ignore_patterns("sids.json", "projections"))
    return root


@pytest.fixture
def cli(ml_dir, monkeypatch, capsys):
    monkeypatch.setenv("SIDLENS_DATA_DIR", str(ml_dir))  # after conftest's per-test directory

    def run(*argv):
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err
    return run


def test_build_then_stats_on_ml100k(cli):
    code, out, _ = cli("sids", "build", "--dataset", "ml-100k", "--method", "rqkmeans", "--json")
    assert code == 0
    built = json.loads(out)
    code, out, _ = cli("sids", "stats", "--dataset", "ml-100k", "--json")
    stats = json.loads(out)
    assert code == 0 and stats == built
    assert stats["items"] == 1682 == stats["unique_sids"]
    assert stats["collision_rate_before"] > 0 and stats["collision_rate_after"] == 0
    for level in stats["levels"]:
        assert level["codes"] == 32 and 1 <= level["perplexity"] <= level["used"] <= 32


def test_show_prints_item_and_sid_and_rejects_unknown_items(cli):
    code, out, _ = cli("sids", "show", "--dataset", "ml-100k", "--item", "1")
    assert code == 0 and "Toy Story (1995)" in out
    assert re.search(r"<a_\d+><b_\d+><c_\d+>$", out.strip())
    code, out, err = cli("sids", "show", "--dataset", "ml-100k", "--item", "99999")
    assert code == 2 and out == "" and err.strip().count("\n") == 0 and "unknown item '99999'" in err


def test_stats_before_build_and_bad_options_are_one_line_errors(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SIDLENS_DATA_DIR", str(tmp_path / "empty"))
    code, _, err = cli("sids", "stats", "--dataset", "ml-100k")
    assert code == 2 and err.startswith("error: no SIDs built for dataset 'ml-100k'")
    code, _, err = cli("sids", "build", "--dataset", "ml-100k", "--codebook-size", "5000")
    assert code == 2 and "codebook size must be between 2 and the 1682 items" in err
