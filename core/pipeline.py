"""The quick pipeline as a list of named steps, for callers that show their own progress (the app).

The same steps `make pipeline` runs through the CLI: prepare the dataset, build its SIDs, and, when
asked, write the alignment corpus and train the quick SFT preset (~50 min on 2 CPU cores). Steps
whose artefact already exists are left out, and the SID step installs the shipped map when there is
one (`core.sid.build.ensure_sidmap`, as `sids build --if-missing` does: a newly built map would orphan
every shipped checkpoint); SFT resumes from its last Trainer checkpoint, so an interrupted list can be re-run.
"""
from __future__ import annotations

from typing import Callable


def quick_steps(dataset: str, train: bool = False) -> list[tuple[str, Callable[[], object]]]:
    """[(label, run)] still to do, in order; `train` adds the corpus and the quick SFT run."""
    from core.data.registry import prepare_dataset, prepared_names
    from core.sid.build import ensure_sidmap, shipped_path, sidmap_path

    steps: list[tuple[str, Callable[[], object]]] = []
    if dataset not in prepared_names():
        steps.append((f"Prepare {dataset}", lambda: prepare_dataset(dataset)))
    if not sidmap_path(dataset).exists():
        label = ("Install the shipped SID map (the one the shipped checkpoints were trained on)"
                 if shipped_path(dataset).exists() else "Embed the items and build their SIDs")
        steps.append((label, lambda: ensure_sidmap(dataset)))
    if train:
        from core.corpus.build import build_corpus, corpus_path
        from core.train.sft import settings_for, train_sft

        if not corpus_path(dataset).exists():
            steps.append(("Write the alignment corpus", lambda: build_corpus(dataset)))
        steps.append(("Train SFT, quick preset (about 50 min on 2 CPU cores; resumes if interrupted)",
                      lambda: train_sft(settings_for("quick", dataset=dataset))))
    return steps
