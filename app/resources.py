"""Every cached loader of the app, so pages and reruns never rebuild what is already in memory.

`st.cache_resource` entries are keyed by what identifies the artefact on disk (its folder and
modification stamp, the checkpoint path and SID-map hash), so switching pages or variants reuses
a loaded model, while a re-prepared dataset or a rebuilt SID map is picked up on the next rerun.
The store is opened per call instead: sqlite3 connections belong to the thread that made them, and
Streamlit reruns a session's script in a new thread.

`SIDLENS_TINY_MODEL=1` adds a variant "tiny": the real tokenizer with the SID tokens on a tiny
random Llama (`core.llm.tiny`), so tests and demos without a trained checkpoint run the same code
path as a real variant.
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import streamlit as st

from app import ui
from core.errors import SidLensError
from core.paths import dataset_dir
from core.store import Store

TINY = "tiny"


def store() -> Store:
    return Store()


def _stamp(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


@st.cache_resource(show_spinner="Loading the dataset...", max_entries=4)
def _dataset(name: str, folder: str, stamp: float):
    from core.data.registry import load_dataset

    return load_dataset(name, store())


def _prepared(name: str) -> tuple[str, float]:
    """(prepared folder, its modification stamp): the cache key of everything built from the dataset."""
    from core.data.registry import PREPARED

    folder = dataset_dir(name) / PREPARED
    return str(folder), _stamp(folder / "dataset.json")


def dataset(name: str):
    return _dataset(name, *_prepared(name))


@st.cache_resource(max_entries=4)
def _popularity(name: str, folder: str, stamp: float) -> Counter:
    from core.histories import popularity as count

    return count(dataset(name))


def popularity(name: str) -> Counter:
    return _popularity(name, *_prepared(name))


@st.cache_resource(show_spinner="Loading the SID map...", max_entries=4)
def _sidmap(name: str, path: str, stamp: float):
    from core.sid.build import load_sidmap

    return load_sidmap(name, store())


def sidmap(name: str):
    """The dataset's SID map, or None when none was built yet."""
    from core.sid.build import sidmap_path

    path = sidmap_path(name)
    return _sidmap(name, str(path), _stamp(path)) if path.exists() else None


@st.cache_resource(show_spinner="Embedding the items...", max_entries=2)
def _embeddings(name: str, encoder: str, folder: str, stamp: float):
    from core.sid.embed import item_embeddings

    lm = None
    if encoder == "lm":
        from core.llm.embed import LmEncoder

        lm = LmEncoder()
    return item_embeddings(dataset(name), encoder=encoder, lm=lm)


@st.cache_resource(show_spinner="Projecting the items with UMAP (once per SID map)...", max_entries=4)
def _projection(name: str, sid_hash: str, dims: int, folder: str, stamp: float):
    from core.sid.projection import umap_projection

    smap = sidmap(name)
    encoder = (smap.stats or {}).get("encoder", "minilm")  # the embeddings the SIDs were built from
    return umap_projection(smap, _embeddings(name, encoder, folder, stamp), dims=dims)


def projection(name: str, dims: int = 2):
    """UMAP coordinates of the items (rows in `list(dataset.items)` order)."""
    return _projection(name, sidmap(name).hash, dims, *_prepared(name))


@st.cache_resource(max_entries=4)
def _codebook_stats(name: str, sid_hash: str):
    from core.sid.stats import codebook_stats

    return codebook_stats(sidmap(name))


def codebook_stats(name: str) -> dict:
    return _codebook_stats(name, sidmap(name).hash)


def tiny_enabled() -> bool:
    return os.environ.get("SIDLENS_TINY_MODEL", "").lower() in {"1", "true", "yes", "on"}


def _checkpoint_folders() -> tuple[str, tuple[tuple[str, float], ...]]:
    """(database path, (checkpoint folder, its stamp) ...): the key under which the shipped
    checkpoints were registered, so registering runs once per set of folders, not on every rerun."""
    from core.paths import checkpoints_dir, db_path

    root = checkpoints_dir()
    folders = tuple(sorted((p.name, p.stat().st_mtime) for p in root.iterdir() if p.is_dir())) \
        if root.is_dir() else ()
    return str(db_path()), folders


@st.cache_resource(show_spinner=False, max_entries=4)
def _register_shipped(db: str, folders: tuple) -> list[str]:
    from core.runs import register_shipped

    return register_shipped(store())


def register_shipped() -> None:
    """Register the shipped checkpoints the store lacks, once per set of checkpoint folders; a
    warning per folder that could not be registered."""
    for problem in _register_shipped(*_checkpoint_folders()):
        st.warning(f"skipped checkpoint {ui.md(problem)}")


def variants(name: str) -> list[dict]:
    """Runs of the dataset with a checkpoint (shipped ones registered), plus "tiny" when enabled."""
    from core.variants import variants as listed

    register_shipped()
    rows = listed(store(), name)
    if tiny_enabled():
        rows.append({"name": TINY, "stage": "random weights, for tests", "checkpoint": TINY, "dataset": name})
    return rows


def _share_cores() -> None:
    """Give the model half the CPU cores (at least one) unless OMP_NUM_THREADS says otherwise: the
    browser and the Streamlit server run beside it: on 2 cores one torch thread reached the first
    token sooner than two, and far sooner under load (bench/bench_app.py, BENCHMARKS.md 'App')."""
    if "OMP_NUM_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))


@st.cache_resource(show_spinner="Loading the model (once per checkpoint)...", max_entries=8)
def _model(checkpoint: str, sid_hash: str, dataset_name: str):
    """(model, tokenizer, meta, trie) for one checkpoint and SID map."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    _share_cores()
    from core.decode.trie import SidTrie

    smap = sidmap(dataset_name)
    if checkpoint == TINY:
        from core.llm.sid_tokens import add_sid_tokens
        from core.llm.tiny import tiny_model

        model, tokenizer = tiny_model()
        add_sid_tokens(model, tokenizer, smap)
        meta = {"base_model": "tiny", "sid_map_hash": smap.hash}
    else:
        from core.llm.adapter import load_checkpoint
        from core.runs import resolve_repo_path

        model, tokenizer, meta = load_checkpoint(resolve_repo_path(checkpoint), smap)
    return model, tokenizer, meta, SidTrie(smap, tokenizer)


def model(variant: dict, dataset_name: str):
    """(model, tokenizer, meta, trie) of a variant row; loaded once per checkpoint and SID map."""
    smap = sidmap(dataset_name)
    if smap is None:
        raise SidLensError(f"dataset {dataset_name} has no SIDs yet: run the quick pipeline first")
    return _model(variant["checkpoint"], smap.hash, dataset_name)


@st.cache_resource(max_entries=4)
def _checker(name: str, sid_hash: str, folder: str, stamp: float):
    from core.eval.faithfulness import FaithfulnessChecker

    return FaithfulnessChecker(dataset(name), sidmap(name))


def faithfulness(name: str):
    """The dataset's faithfulness checker (its title and genre patterns are compiled once)."""
    return _checker(name, sidmap(name).hash, *_prepared(name))
