"""Load a run for evaluation: its dataset, SID map, precision and checkpoint, as every evaluation does.

One home for the sequence `python -m core eval` (`core.eval.runner`), the alignment probe
(`core.eval.alignment`) and the benchmarks (`bench/bench_reason_eval.py`) share: resolve the run
(registering a committed checkpoint folder in a fresh store), load its dataset and SID map, pick
the precision (`core.llm.precision.choose_precision`: auto = bf16 only where a measured probe finds
it faster) and load the merged checkpoint in it. `split` is the leave-one-out split in the
checkpoint's history window, and `prompts` renders each example's prompt exactly as
the checkpoint was trained on it, so a benchmark times the prompts the evaluation scores.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from core.store import Store


@dataclass
class EvalModel:
    """A run loaded for evaluation (`load_for_eval`)."""

    row: dict        # the run's store row (name, dataset, checkpoint, config)
    folder: Path     # its checkpoint folder
    dataset: object  # core.data.dataset.Dataset
    sidmap: object   # core.sid.sidmap.SidMap
    precision: str   # "fp32" or "bf16", as chosen for this machine
    model: object
    tokenizer: object
    meta: dict       # the checkpoint's sidlens.json (think, window, ...)

    @cached_property
    def split(self):
        """The leave-one-out split in the checkpoint's history window (`core.data.split.Split`), the one
        its prompts were trained on."""
        from core.data.split import Split
        from core.llm.prompts import history_window

        return Split(self.dataset, window=history_window(self.meta))

    def prompts(self, examples, candidate_lists=None) -> list[str]:
        """Each example's rendered prompt as the checkpoint was trained on it
        (`core.llm.prompts.variant_messages`), or with `candidate_lists` its pick-from-the-list prompt."""
        return render_prompts(self.tokenizer, self.sidmap, self.dataset, examples, self.meta, candidate_lists)


def render_prompts(tokenizer, sidmap, dataset, examples, meta: dict, candidate_lists=None) -> list[str]:
    """`EvalModel.prompts` for a model not loaded through `load_for_eval` (tests build tiny ones)."""
    from core.llm.prompts import render_prompt, variant_messages

    lists = candidate_lists if candidate_lists is not None else [None] * len(examples)
    return [render_prompt(tokenizer, variant_messages(meta, sidmap, dataset, ex.history, candidates=cands)[0])
            for ex, cands in zip(examples, lists, strict=True)]


def load_for_eval(run: str, dtype: str = "auto", store: Store | None = None) -> EvalModel:
    """Resolve `run` in `store` and load it merged, in the precision `dtype` resolves to on this machine."""
    from core.data.registry import load_dataset
    from core.llm.adapter import load_checkpoint
    from core.llm.backbone import resolve_device
    from core.llm.precision import choose_precision
    from core.runs import resolve_repo_path, resolve_run
    from core.sid.build import load_sidmap

    store = store or Store()
    row = resolve_run(store, run)
    dataset, sidmap = load_dataset(row["dataset"], store), load_sidmap(row["dataset"], store)
    precision = choose_precision(dtype, resolve_device().type)
    folder = resolve_repo_path(row["checkpoint"])
    model, tokenizer, meta = load_checkpoint(folder, sidmap, dtype="bf16" if precision == "bf16" else None)
    return EvalModel(row, folder, dataset, sidmap, precision, model, tokenizer, meta)
