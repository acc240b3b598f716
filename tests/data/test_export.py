"""RecBole export: replaying RecBole's time-ordered leave-one-out on the files gives our split."""
from __future__ import annotations

import csv
from collections import defaultdict

from core.data.export import export_recbole, strict_timestamps
from core.data.schema import Dataset, Interaction, Item
from core.data.split import Split


def _recbole_leave_one_out(inter_path, window):
    """What RecBole does with `order: TO, split: {LS: valid_and_test}`: sort each user's rows by time,
    last is test, second-to-last valid, every prefix of the rest trains."""
    rows = defaultdict(list)
    with open(inter_path, newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            rows[row["user_id:token"]].append((float(row["timestamp:float"]), row["item_id:token"]))
    parts = {"train": set(), "valid": set(), "test": set()}
    for user, seq in rows.items():
        times = [t for t, _ in seq]
        assert len(set(times)) == len(times), f"user {user} has tied timestamps"
        items = [i for _, i in sorted(seq)]
        parts["test"].add((user, tuple(items[:-1][-window:]), items[-1]))
        parts["valid"].add((user, tuple(items[:-2][-window:]), items[-2]))
        parts["train"].update((user, tuple(items[max(0, i - window):i]), items[i]) for i in range(1, len(items) - 2))
    return parts


def test_export_reproduces_the_split(ml100k, tmp_path):
    split = Split(ml100k, window=20)
    folder = export_recbole(ml100k, split, tmp_path / "out")
    assert folder == tmp_path / "out" / "ml-100k"
    replayed = _recbole_leave_one_out(folder / "ml-100k.inter", window=20)
    for part in ("train", "valid", "test"):
        assert replayed[part] == {(e.user_id, e.history, e.target) for e in split.examples(part)}, part
    item_lines = (folder / "ml-100k.item").read_text().splitlines()
    assert item_lines[0].startswith("item_id:token\t") and len(item_lines) == 1 + 1682
    assert "1\tToy Story\t1995\tAnimation Children's Comedy" in item_lines
    assert len((folder / "ml-100k.user").read_text().splitlines()) == 1 + 943
    assert "MAX_ITEM_LIST_LENGTH: 20" in (folder / "ml-100k.yaml").read_text()


def test_timestamps_stay_close_to_the_real_ones(ml100k, tmp_path):
    folder = export_recbole(ml100k, Split(ml100k), tmp_path)
    with open(folder / "ml-100k.inter", newline="") as fh:
        written = [int(r["timestamp:float"]) for r in csv.DictReader(fh, delimiter="\t")]
    real = [x.timestamp for seq in ml100k.sequences.values() for x in seq]
    shifts = [w - r for w, r in zip(written, real)]
    assert min(shifts) == 0 and 0 < max(shifts) < 600


def test_strict_timestamps():
    assert strict_timestamps([5, 5, 5, 9, 9]) == [5, 6, 7, 9, 10]
    assert strict_timestamps([]) == []


def test_short_users_are_left_out_and_reexport_overwrites(tmp_path):
    items = {i: Item(i, f"item\t{i}", None, ("Power Tools",)) for i in "abcd"}
    seqs = {"u1": [Interaction("u1", i, 7) for i in "abcd"], "u2": [Interaction("u2", "a", 1), Interaction("u2", "b", 2)]}
    dataset = Dataset("amazon-toy", items, {}, seqs)
    export_recbole(dataset, Split(dataset, window=3), tmp_path)
    folder = export_recbole(dataset, Split(dataset, window=3), tmp_path)
    inter = (folder / "amazon-toy.inter").read_text().splitlines()
    assert inter[1:] == ["u1\ta\t\t7", "u1\tb\t\t8", "u1\tc\t\t9", "u1\td\t\t10"]
    assert "a\titem a\t\tPower_Tools" in (folder / "amazon-toy.item").read_text()
    assert (folder / "amazon-toy.user").read_text() == "user_id:token\nu1\n"
    assert "1 users with fewer than 3 interactions left out" in (folder / "amazon-toy.yaml").read_text()
