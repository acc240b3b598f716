"""The `data` commands through core.cli.main: outputs, help text and one-line errors (exit 2)."""
from __future__ import annotations

import json

import pytest

from core.cli import main
from tests.data.amazon_samples import write_amazon


def _error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    return lines[0]


def test_stats_json(capsys):
    assert main(["data", "stats", "--dataset", "ml-100k", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"users": 943, "items": 1682, "interactions": 100000,
                                                   "test_users": 943}


def test_prepare_and_export(capsys, tmp_path):
    assert main(["data", "prepare", "--dataset", "ml-100k"]) == 0
    assert "prepared ml-100k: users 943, items 1682, interactions 100000" in capsys.readouterr().out
    assert main(["data", "export-recbole", "--dataset", "ml-100k", "--out", str(tmp_path), "--window", "5"]) == 0
    folder = tmp_path / "ml-100k"
    assert capsys.readouterr().out.strip() == str(folder)
    assert "MAX_ITEM_LIST_LENGTH: 5" in (folder / "ml-100k.yaml").read_text()


def test_prepare_amazon(capsys, tmp_path):
    reviews, meta = write_amazon(tmp_path / "raw", fmt="2023")
    argv = ["data", "prepare", "--dataset", "amazon-tools", "--reviews", str(reviews), "--meta", str(meta),
            "--format", "2023", "--k-core", "2", "--start-year", "2015", "--end-year", "2016", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["users"], out["items"], out["interactions"], out["test_users"]) == (2, 3, 6, 2)
    assert out["skipped"]["items_without_title"] == 2
    assert main(["data", "stats", "--dataset", "amazon-tools"]) == 0
    assert "interactions: 6" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["data", "stats", "--dataset", "movies"], "unknown dataset 'movies'"),
    (["data", "prepare", "--dataset", "amazon-x", "--reviews", "/no/reviews.json", "--meta", "/no/meta.json"],
     "file not found: /no/"),
    (["data", "prepare", "--dataset", "ml-100k", "--reviews", "r.json"], "takes no options"),
    (["data", "export-recbole", "--dataset", "ml-100k", "--out", "x", "--window", "0"], "--window must be at least 1"),
])
def test_user_errors_are_one_line(capsys, argv, message):
    assert main(argv) == 2
    assert message in _error(capsys)


def test_checksum_mismatch_exits_2(capsys, private_cache):
    raw = private_cache / "raw" / "ml-100k"
    raw.mkdir(parents=True)
    (raw / "ml-100k.inter").write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
    assert main(["data", "prepare", "--dataset", "ml-100k"]) == 2
    assert "checksum mismatch for" in _error(capsys)


@pytest.mark.parametrize("command", ["prepare", "stats", "export-recbole"])
def test_every_command_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main(["data", command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--dataset" in out and len(out.split("\n\n")[1]) > 40  # a description paragraph
