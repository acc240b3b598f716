"""Write a dataset and its leave-one-out split as RecBole atomic files, for external baselines.

`export_recbole(dataset, split, out_dir)` writes `<out_dir>/<name>/` with `<name>.inter`
(user_id:token, item_id:token, rating:float, timestamp:float), `<name>.item`, `<name>.user` and
`<name>.yaml`, the RecBole settings that reproduce our split: time order (`order: TO`), grouped
by user, leave-one-out for validation and test (`split: {LS: valid_and_test}`), and
`MAX_ITEM_LIST_LENGTH` = the split's history window.

Why timestamps are rewritten: several of a user's interactions can share a timestamp (MovieLens
users rated many films within one second), and RecBole's sort is not guaranteed to keep our
tie-break (file order). Each user's timestamps are nudged forward by whole seconds where needed,
t'_i = max(t_i, t'_{i-1} + 1), so the order is strict and any sort recovers our sequence exactly,
while times stay close to the real ones. Users with fewer than 3 interactions have no examples in
our split, so they are left out (RecBole would split them differently); ml-100k has none.
"""
from __future__ import annotations

import re
from pathlib import Path

from core.atomic import atomic_path
from core.data.schema import Dataset
from core.data.split import Split


def _cell(text) -> str:
    """A value safe inside a tab-separated atomic file."""
    return "" if text is None else re.sub(r"\s+", " ", str(text)).strip()


def strict_timestamps(timestamps: list[int]) -> list[int]:
    """The same times nudged forward where needed so that they strictly increase."""
    out: list[int] = []
    for t in timestamps:
        out.append(t if not out or t > out[-1] else out[-1] + 1)
    return out


def export_recbole(dataset: Dataset, split: Split, out_dir: str | Path) -> Path:
    """Write the atomic files (see the module docstring); returns the `<out_dir>/<name>` folder."""
    name = dataset.name
    target = Path(out_dir) / name
    users = [u for u, seq in dataset.sequences.items() if len(seq) >= 3]
    with atomic_path(target) as folder:
        folder.mkdir()
        with open(folder / f"{name}.inter", "w", encoding="utf-8") as fh:
            fh.write("user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
            for u in users:
                seq = dataset.sequences[u]
                for x, t in zip(seq, strict_timestamps([x.timestamp for x in seq])):
                    fh.write(f"{u}\t{x.item_id}\t{'' if x.rating is None else x.rating}\t{t}\n")
        with open(folder / f"{name}.item", "w", encoding="utf-8") as fh:
            fh.write("item_id:token\ttitle:token_seq\tyear:token\tgenres:token_seq\n")
            for item in dataset.items.values():
                genres = " ".join(_cell(g).replace(" ", "_") for g in item.genres)
                fh.write(f"{item.item_id}\t{_cell(item.title)}\t{_cell(item.year)}\t{genres}\n")
        profile = [f for f in ("age", "gender", "occupation")
                   if any(getattr(dataset.users.get(u), f, None) is not None for u in users)]
        with open(folder / f"{name}.user", "w", encoding="utf-8") as fh:
            fh.write("\t".join(["user_id:token"] + [f"{f}:token" for f in profile]) + "\n")
            for u in users:
                user = dataset.users.get(u)
                fh.write("\t".join([u] + [_cell(getattr(user, f, None)) for f in profile]) + "\n")
        (folder / f"{name}.yaml").write_text(
            f"# RecBole settings that reproduce SID Lens's leave-one-out split of {name}\n"
            f"# ({len(dataset.sequences) - len(users)} users with fewer than 3 interactions left out).\n"
            "USER_ID_FIELD: user_id\nITEM_ID_FIELD: item_id\nRATING_FIELD: rating\nTIME_FIELD: timestamp\n"
            "load_col:\n  inter: [user_id, item_id, rating, timestamp]\n"
            f"MAX_ITEM_LIST_LENGTH: {split.window}\n"
            "eval_args:\n  split: {LS: valid_and_test}\n  order: TO\n  group_by: user\n  mode: full\n",
            encoding="utf-8")
    return target
