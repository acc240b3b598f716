import json

from core.cli import main


def test_runs_list_shows_popularity_metrics_after_a_run(capsys):
    assert main(["baselines", "run", "--dataset", "ml-100k", "--only", "popularity", "--json"]) == 0
    ran = json.loads(capsys.readouterr().out)["popularity"]
    assert ran["users"] == 943 and ran["test"]["hr@10"] > 0
    assert main(["runs", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["name"], listed["stage"], listed["dataset"], listed["status"]) == \
        ("popularity", "baseline", "ml-100k", "done")
    assert listed["test"] == ran["test"]
    assert main(["runs", "list"]) == 0
    table = capsys.readouterr().out
    assert "popularity" in table and f"{ran['test']['hr@10']:.4f}" in table


def test_bad_options_are_one_line_errors(capsys):
    assert main(["baselines", "run", "--only", "sasrec", "--heads", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "heads" in err
    assert main(["baselines", "run", "--window", "0"]) == 2
    assert "--window" in capsys.readouterr().err
