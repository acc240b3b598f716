"""MovieLens-100k from the real recbole wheel: counts, fields, ordering and checksums."""
from __future__ import annotations

import csv
import zipfile
from collections import defaultdict

import pytest

from core.data import movielens
from core.errors import SidLensError


def test_counts_and_fields(ml100k):
    assert ml100k.stats() == {"users": 943, "items": 1682, "interactions": 100000}
    toy_story = ml100k.items["1"]
    assert (toy_story.title, toy_story.year, toy_story.genres) == ("Toy Story", 1995, ("Animation", "Children's", "Comedy"))
    assert ml100k.items["12"].title == "Usual Suspects, The"
    user = ml100k.users["2"]
    assert (user.age, user.gender, user.occupation) == (53, "F", "other")
    assert all(x.rating in {1.0, 2.0, 3.0, 4.0, 5.0} for seq in ml100k.sequences.values() for x in seq)


def test_quirks_of_the_real_files(ml100k):
    # Year inside the title and "V" in the year column; "unknown" genre means no genre.
    assert (ml100k.items["1412"].title, ml100k.items["1412"].year) == ("Land Before Time III: The Time of the Great Giving", 1995)
    assert ml100k.items["267"].year is None and ml100k.items["267"].genres == ()
    assert sum(item.year is None for item in ml100k.items.values()) == 1


def test_sequences_follow_time_with_file_order_ties(ml100k):
    rows = defaultdict(list)
    with open(movielens.raw_files()["ml-100k.inter"], newline="") as fh:
        for line_no, row in enumerate(csv.DictReader(fh, delimiter="\t")):
            rows[row["user_id:token"]].append((int(row["timestamp:float"]), line_no, row["item_id:token"]))
    expected = {u: [item for _, _, item in sorted(r)] for u, r in rows.items()}
    assert {u: [x.item_id for x in seq] for u, seq in ml100k.sequences.items()} == expected
    ties = sum(a.timestamp == b.timestamp for seq in ml100k.sequences.values() for a, b in zip(seq, seq[1:]))
    assert ties > 1000  # the tie-break really matters on this data


def test_raw_file_checksum_mismatch(private_cache):
    paths = movielens.raw_files()
    assert paths["ml-100k.user"].parent == private_cache / "raw" / "ml-100k"
    with open(paths["ml-100k.user"], "a") as fh:
        fh.write("944\t30\tM\twriter\t00000\n")
    with pytest.raises(SidLensError, match="checksum mismatch for .*ml-100k.user"):
        movielens.raw_files()


def test_wheel_with_altered_files_is_refused(private_cache):
    wheel = next((private_cache / "downloads").glob("*.whl"))
    members = [movielens.WHEEL_MEMBER.format(name) for name in movielens.SHA256]
    with zipfile.ZipFile(wheel) as archive:
        contents = {m: archive.read(m) for m in members}
    member = movielens.WHEEL_MEMBER.format("ml-100k.item")
    contents[member] = contents[member].replace(b"Toy Story", b"Toy Storm")
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in contents.items():
            archive.writestr(name, data)
    with pytest.raises(SidLensError, match=f"checksum mismatch for {member}"):
        movielens.raw_files()
    assert not (private_cache / "raw" / "ml-100k" / "ml-100k.item").exists()  # nothing half-made is left


def test_malformed_atomic_row_names_file_and_line(tmp_path):
    path = tmp_path / "x.inter"
    path.write_text("user_id:token\titem_id:token\n1\t2\n3\n")
    with pytest.raises(SidLensError, match="x.inter line 3: expected 2 tab-separated fields, got 1"):
        list(movielens.read_atomic(path))
