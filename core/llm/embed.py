"""The causal LM as an item text encoder, so SIDs can be built in the recommender LM's own space.

    python -m core sids build --dataset ml-100k --encoder lm [--lm FOLDER]

`LmEncoder` is what `core.sid.embed.item_embeddings(encoder="lm", lm=...)` calls: the SID layer
takes the encoder as an argument rather than importing this layer. Any HF causal LM works; by
default the project's backbone (`core.llm.backbone.load_base()`). On a shared 2-core CPU one torch
thread can be faster than two (OMP_NUM_THREADS=1); threads are left to the user.
"""
from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm


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


class LmEncoder:
    """Texts -> mean-pooled LM states (`core.sid.embed.TextEncoder`). `lm` is a (model, tokenizer)
    pair, a local HF folder or hub name already on disk, or None for the embedded backbone; a name
    is loaded on the first call, so building the encoder is cheap."""

    def __init__(self, lm=None):
        self.lm = lm

    @property
    def model_id(self) -> str:
        if isinstance(self.lm, tuple):
            return str(getattr(self.lm[0].config, "_name_or_path", "")) or type(self.lm[0]).__name__
        from core.llm.backbone import base_name

        return base_name(self.lm)

    def __call__(self, texts: list[str]) -> np.ndarray:
        if not isinstance(self.lm, tuple):
            from core.llm.backbone import load_base

            self.lm = load_base(self.lm)
        model, tokenizer = self.lm
        return lm_mean_pool(model, tokenizer, texts)
