"""LoRA adapters with trainable SID-token rows, and checkpoints that remember their SID map.

Training: LoRA (peft) on the attention and MLP projections, plus peft's `trainable_token_indices`
on `embed_tokens` for the new SID rows only; with tied embeddings the same rows are the output
vectors, so SIDs are learnt both as input and as output while the 49k original rows stay frozen.
`full_finetune=True` trains every weight instead (bigger checkpoints; for GPUs).

Checkpoint folder: peft's adapter saved with `save_embedding_layers=False` (the trained SID rows are
still saved, the frozen 49k-row embedding is not: a few MB instead of ~230 MB), and `sidlens.json`
with the SID map hash, dataset, base model, levels, vocabulary size and the caller's meta. Loading
rebuilds base + SID tokens, applies the adapter and merges it (generation through the peft
wrapper was ~2x slower). A checkpoint trained for another SID map is refused: its SID tokens would
name the wrong items.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from peft.utils.other import TrainableTokensWrapper

from core.atomic import atomic_path
from core.errors import SidLensError
from core.llm.backbone import base_name, load_base
from core.llm.sid_tokens import add_sid_tokens
from core.sid.sidmap import SidMap

META_FILE = "sidlens.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
FULL_WEIGHTS = "model.safetensors"


@dataclass
class LoraSettings:
    r: int = field(default=16, metadata={"help": "LoRA rank"})
    alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (scale = alpha / r)"})
    dropout: float = field(default=0.05, metadata={"help": "dropout on the LoRA input"})
    target_modules: tuple[str, ...] = field(
        default=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        metadata={"help": "linear layers that get LoRA (Llama/Qwen names: attention and MLP projections)"})
    full_finetune: bool = field(default=False, metadata={"help": "train every weight instead of LoRA + SID rows"})


class _BiasForwardingWrapper(TrainableTokensWrapper):
    """peft's wrapper without the AttributeError TRL trainers hit when they read `lm_head.bias`."""

    @property
    def bias(self):
        return self.token_adapter.base_layer.bias


def _expose_bias(model):
    for module in model.modules():
        if type(module) is TrainableTokensWrapper:
            module.__class__ = _BiasForwardingWrapper
    return model


def attach_lora(model, new_token_ids: list[int], settings: LoraSettings | None = None):
    """The model ready to train: a peft LoRA model with the SID rows trainable (or, with
    `full_finetune`, the model itself with every weight trainable)."""
    from peft import LoraConfig, get_peft_model

    settings = settings or LoraSettings()
    if settings.full_finetune:
        model.requires_grad_(True)
        return model
    embed = model.get_input_embeddings()
    rows = {_module_name(model, embed): list(new_token_ids)}
    output = model.get_output_embeddings()
    if output is not None and output.weight is not embed.weight:
        # untied output matrix: its SID rows must learn too, or the model could read SIDs but not write them
        rows[_module_name(model, output)] = list(new_token_ids)
    config = LoraConfig(task_type="CAUSAL_LM", r=settings.r, lora_alpha=settings.alpha,
                        lora_dropout=settings.dropout, target_modules=list(settings.target_modules),
                        trainable_token_indices=rows)
    return _expose_bias(get_peft_model(model, config))


def _module_name(model, module) -> str:
    return next(name for name, m in model.named_modules() if m is module).rsplit(".", 1)[-1]


def _is_peft(model) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def save_checkpoint(model, tokenizer, sidmap: SidMap, out_dir, meta: dict | None = None) -> Path:
    """Write the checkpoint folder atomically; `meta["base_model"]` defaults to what load_base loaded."""
    meta = dict(meta or {})
    base_model = meta.pop("base_model", None) or getattr(model, "sidlens_base", None)
    if base_model is None:
        raise ValueError("save_checkpoint needs meta['base_model'] for a model not loaded by load_base")
    base_model = base_name(base_model)
    record = {**meta, "sid_map_hash": sidmap.hash, "dataset": sidmap.dataset, "base_model": base_model,
              "levels": sidmap.levels, "codebook_sizes": list(sidmap.codebook_sizes),
              "vocab_size": len(tokenizer), "full_finetune": not _is_peft(model)}
    out_dir = Path(out_dir)
    with atomic_path(out_dir) as tmp:
        if _is_peft(model):
            model.save_pretrained(tmp, save_embedding_layers=False)
            _store_half(tmp / ADAPTER_WEIGHTS)
            record["adapter_dtype"] = "float16"
        else:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        (tmp / META_FILE).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return out_dir


def _store_half(path: Path) -> None:
    """Rewrite the LoRA matrices as float16: half the size (an r=16 adapter on every projection of
    the 135M model is ~19.4 MiB in fp32, ~9.5 MiB in fp16) for a rounding error far below what
    training moves; loading copies them back into the fp32 model. The SID token rows (a few hundred
    KB) stay fp32: every SID logit depends on them directly."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(path), framework="pt") as fh:
        metadata = fh.metadata()
    tensors = {k: v.half() if v.is_floating_point() and ".lora_" in k else v for k, v in load_file(str(path)).items()}
    save_file(tensors, str(path), metadata=metadata)


def read_meta(ckpt_dir) -> dict:
    """The checkpoint's `sidlens.json`; one-line SidLensError when the folder or file is missing or bad."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        raise SidLensError(f"no checkpoint at {ckpt_dir}")
    try:
        meta = json.loads((ckpt_dir / META_FILE).read_text())
    except FileNotFoundError:
        raise SidLensError(f"corrupted checkpoint {ckpt_dir}: {META_FILE} is missing") from None
    except ValueError as exc:
        raise SidLensError(f"corrupted checkpoint {ckpt_dir}: {META_FILE} is not JSON ({exc})") from None
    missing = [k for k in ("sid_map_hash", "base_model") if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise SidLensError(f"corrupted checkpoint {ckpt_dir}: {META_FILE} lacks {', '.join(missing)}")
    weights = FULL_WEIGHTS if meta.get("full_finetune") else ADAPTER_WEIGHTS
    if not (ckpt_dir / weights).is_file():
        raise SidLensError(f"corrupted checkpoint {ckpt_dir}: {weights} is missing")
    return meta


def check_sid_map(ckpt_dir, meta: dict, sidmap: SidMap) -> None:
    if meta["sid_map_hash"] != sidmap.hash:
        raise SidLensError(f"checkpoint {ckpt_dir} was trained with SID map {meta['sid_map_hash']} but dataset "
                           f"{sidmap.dataset} has SID map {sidmap.hash}: rebuild the SIDs with the checkpoint's "
                           "settings or retrain the checkpoint")


def load_checkpoint(ckpt_dir, sidmap: SidMap, device: str | None = None, merge: bool = True, dtype=None):
    """(model, tokenizer, meta) of a saved checkpoint, for `sidmap`'s dataset.

    `merge=True` folds the adapter into the weights (inference); `merge=False` returns a trainable
    peft model (to continue from SFT with DPO or GRPO).
    """
    from peft import PeftModel

    ckpt_dir = Path(ckpt_dir)
    meta = read_meta(ckpt_dir)
    check_sid_map(ckpt_dir, meta, sidmap)
    if meta.get("full_finetune"):
        model, tokenizer = load_base(str(ckpt_dir), device=device, dtype=dtype)
        model.sidlens_base = meta["base_model"]
        return model, tokenizer, meta
    model, tokenizer = load_base(meta["base_model"], device=device, dtype=dtype)
    add_sid_tokens(model, tokenizer, sidmap)
    if meta.get("vocab_size") not in (None, len(tokenizer)):
        raise SidLensError(f"checkpoint {ckpt_dir} expects a vocabulary of {meta['vocab_size']} tokens but base "
                           f"model {meta['base_model']} with SID tokens has {len(tokenizer)}")
    try:
        model = PeftModel.from_pretrained(model, ckpt_dir, is_trainable=not merge)
    except Exception as exc:  # safetensors and peft raise many types for a damaged file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SidLensError(f"corrupted checkpoint {ckpt_dir}: adapter could not be loaded ({first})") from None
    if merge:
        model = model.merge_and_unload().eval()
    else:
        _expose_bias(model)
    model.sidlens_base = meta["base_model"]
    return model, tokenizer, meta


def settings_dict(settings: LoraSettings) -> dict:
    """Settings as plain JSON for a checkpoint's meta."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(settings).items()}

