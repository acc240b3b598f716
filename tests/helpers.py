"""Checkpoints on the tiny model for tests: the one way tests save a base model and a LoRA
checkpoint over it (what `core.llm.adapter.load_checkpoint`, the app and the trainers load)."""
from __future__ import annotations

from pathlib import Path

import torch


def save_base(model, tokenizer, folder: Path) -> Path:
    """`model` and its tokenizer as an ordinary HF folder, so checkpoints can name it as their base."""
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return Path(folder)


def lora_checkpoint(base: Path, sidmap, folder: Path, meta: dict, seed: int = 0, perturb: str | None = None) -> Path:
    """A fresh LoRA (r=4, no dropout) with `sidmap`'s tokens over the model saved at `base`, saved as
    the checkpoint `folder` with `meta`. `perturb` names parameters (a substring, e.g. "lora_B") given
    small random values, so the checkpoint's outputs differ from its base's."""
    from core.llm.adapter import LoraSettings, attach_lora, save_checkpoint
    from core.llm.backbone import load_base
    from core.llm.sid_tokens import add_sid_tokens

    model, tokenizer = load_base(str(base))
    torch.manual_seed(seed)
    peft_model = attach_lora(model, add_sid_tokens(model, tokenizer, sidmap), LoraSettings(r=4, dropout=0.0))
    if perturb:
        with torch.no_grad():
            for name, p in peft_model.named_parameters():
                if perturb in name:
                    p.normal_(0, 0.02)
    return save_checkpoint(peft_model, tokenizer, sidmap, folder, meta=meta)
