import json
import shutil
from pathlib import Path

import pytest
import torch

from core.errors import SidLensError
from core.llm.adapter import LoraSettings, attach_lora, load_checkpoint, save_checkpoint
from core.llm.backbone import load_base
from core.llm.sid_tokens import add_sid_tokens
from core.llm.tiny import tiny_model
from core.sid.sidmap import SidMap
from tests.helpers import save_base


@pytest.fixture
def tiny_base(tmp_path):
    """A tiny model saved as an ordinary HF folder, so checkpoints can name it as their base."""
    return save_base(*tiny_model(), tmp_path / "tiny-base")


def sid_batch(tokenizer, sidmap):
    text = "Next: " + sidmap.sid_text("5") + " then " + sidmap.sid_text("6")
    ids = tokenizer([text], return_tensors="pt").input_ids
    return {"input_ids": ids, "labels": ids}


def trained_lora(tiny_base, sidmap, steps=5, settings=None):
    model, tokenizer = load_base(str(tiny_base))
    new_ids = add_sid_tokens(model, tokenizer, sidmap)
    peft_model = attach_lora(model, new_ids, settings or LoraSettings(r=4, dropout=0.0))
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    batch, losses = sid_batch(tokenizer, sidmap), []
    peft_model.train()
    for _ in range(steps):
        loss = peft_model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return peft_model.eval(), tokenizer, new_ids, losses


def logits(model, tokenizer, sidmap):
    with torch.no_grad():
        return model(sid_batch(tokenizer, sidmap)["input_ids"]).logits


def test_training_moves_lora_and_sid_rows_only(tiny_base, toy_sidmap):
    model, tokenizer = load_base(str(tiny_base))
    new_ids = add_sid_tokens(model, tokenizer, toy_sidmap)
    peft_model = attach_lora(model, new_ids, LoraSettings(r=4, dropout=0.0))
    embed = peft_model.get_input_embeddings()
    assert peft_model.base_model.model.lm_head.bias is None  # TRL reads it; peft's wrapper alone raises
    before = embed.weight.detach().clone()
    lora_b = peft_model.base_model.model.model.layers[0].self_attn.q_proj.lora_B.default.weight
    assert not lora_b.any()
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    peft_model(**sid_batch(tokenizer, toy_sidmap)).loss.backward()
    optimizer.step()
    after = embed.weight.detach()
    first_new = min(new_ids)
    assert torch.equal(after[:first_new], before[:first_new])  # the original vocabulary is frozen
    moved = (after[first_new:] != before[first_new:]).any(dim=1)
    used = {tokenizer.convert_tokens_to_ids(t) - first_new for i in ("5", "6") for t in toy_sidmap.sid_tokens(i)}
    assert all(moved[i] for i in used)
    assert lora_b.any()
    assert torch.equal(peft_model.base_model.model.lm_head.weight, after)  # tied: output rows moved too


def test_untied_output_rows_train_too(toy_sidmap):
    model, tokenizer = tiny_model(tied=False)
    new_ids = add_sid_tokens(model, tokenizer, toy_sidmap)
    peft_model = attach_lora(model, new_ids, LoraSettings(r=4, dropout=0.0))
    head = peft_model.base_model.model.lm_head
    assert head.bias is None
    before = head.weight.detach().clone()
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    peft_model(**sid_batch(tokenizer, toy_sidmap)).loss.backward()
    optimizer.step()
    after = head.weight.detach()
    first_new = min(new_ids)
    assert torch.equal(after[:first_new], before[:first_new])
    assert (after[first_new:] != before[first_new:]).any(dim=1).all()


def test_loss_falls(tiny_base, toy_sidmap):
    _, _, _, losses = trained_lora(tiny_base, toy_sidmap, steps=6)
    assert losses[-1] < losses[0] - 0.5


def test_save_load_round_trip(tiny_base, toy_sidmap, tmp_path):
    model, tokenizer, new_ids, _ = trained_lora(tiny_base, toy_sidmap)
    expected = logits(model, tokenizer, toy_sidmap)
    ckpt = save_checkpoint(model, tokenizer, toy_sidmap, tmp_path / "ckpt", {"run": "unit", "steps": 5})
    meta = json.loads((ckpt / "sidlens.json").read_text())
    assert meta["sid_map_hash"] == toy_sidmap.hash and meta["base_model"] == str(tiny_base)
    assert meta["levels"] == 3 and meta["run"] == "unit" and meta["full_finetune"] is False
    embedding_bytes = model.get_input_embeddings().weight.numel() * 4
    assert (ckpt / "adapter_model.safetensors").stat().st_size < embedding_bytes / 10
    merged, tokenizer2, meta2 = load_checkpoint(ckpt, toy_sidmap)
    assert meta2["steps"] == 5 and len(tokenizer2) == len(tokenizer)
    assert not hasattr(merged, "peft_config")
    # adapters are stored in float16: equal up to that rounding (the trained delta is far larger)
    restored = logits(merged, tokenizer2, toy_sidmap)
    assert (restored - expected).abs().max() < 2e-3
    untrained, untrained_tok = load_base(str(tiny_base))
    add_sid_tokens(untrained, untrained_tok, toy_sidmap)
    moved = (expected - logits(untrained, untrained_tok, toy_sidmap)).abs().max()
    assert (restored - expected).abs().max() < 0.01 * moved
    trainable, _, _ = load_checkpoint(ckpt, toy_sidmap, merge=False)
    assert any(p.requires_grad for p in trainable.parameters())
    assert torch.allclose(logits(trainable.eval(), tokenizer2, toy_sidmap), restored, atol=1e-4)


def test_full_finetune_round_trip(tiny_base, toy_sidmap, tmp_path):
    model, tokenizer, _, losses = trained_lora(tiny_base, toy_sidmap, steps=2, settings=LoraSettings(full_finetune=True))
    assert losses[1] < losses[0]
    ckpt = save_checkpoint(model, tokenizer, toy_sidmap, tmp_path / "full")
    loaded, _, meta = load_checkpoint(ckpt, toy_sidmap)
    assert meta["full_finetune"] is True and loaded.sidlens_base == str(tiny_base)
    assert torch.allclose(logits(loaded, tokenizer, toy_sidmap), logits(model, tokenizer, toy_sidmap), atol=1e-5)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, toy_sidmap):
    """One trained checkpoint for the refusal tests (each damages its own copy)."""
    root = tmp_path_factory.mktemp("pristine")
    model, tokenizer, _, _ = trained_lora(save_base(*tiny_model(), root / "tiny-base"), toy_sidmap, steps=1)
    return save_checkpoint(model, tokenizer, toy_sidmap, root / "ckpt")


@pytest.fixture
def saved(pristine, tmp_path):
    return Path(shutil.copytree(pristine, tmp_path / "ckpt"))


def test_other_sid_map_is_refused(saved, toy_sidmap):
    codes = dict(toy_sidmap.codes)
    codes["0"] = (7, 7, 3)
    other = SidMap("ml-100k", "rqkmeans", [8, 8, 4], codes)
    with pytest.raises(SidLensError) as exc:
        load_checkpoint(saved, other)
    message = str(exc.value)
    assert "\n" not in message
    assert f"was trained with SID map {toy_sidmap.hash} but dataset ml-100k has SID map {other.hash}" in message


@pytest.mark.parametrize("damage, problem", [
    (lambda d: (d / "adapter_model.safetensors").write_bytes(b"\x00" * 20), "adapter could not be loaded"),
    (lambda d: (d / "adapter_model.safetensors").unlink(), "adapter_model.safetensors is missing"),
    (lambda d: (d / "adapter_config.json").write_text("{"), "adapter could not be loaded"),
    (lambda d: (d / "sidlens.json").unlink(), "sidlens.json is missing"),
    (lambda d: (d / "sidlens.json").write_text("not json"), "sidlens.json is not JSON"),
    (lambda d: (d / "sidlens.json").write_text("{}"), "lacks sid_map_hash, base_model"),
])
def test_corrupted_checkpoint_is_refused(saved, toy_sidmap, damage, problem):
    damage(saved)
    with pytest.raises(SidLensError, match=problem) as exc:
        load_checkpoint(saved, toy_sidmap)
    assert "\n" not in str(exc.value) and str(saved) in str(exc.value)


def test_missing_checkpoint_is_refused(tmp_path, toy_sidmap):
    with pytest.raises(SidLensError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nothing", toy_sidmap)


@pytest.mark.slow  # the real LM
def test_real_backbone_adapter_is_small_and_round_trips(tmp_path):
    """SmolLM2-135M, LoRA r=16 on all projections + 96 SID rows, stored in float16: <= 10 MB (issue 4's
    limit), not the 228 MB embedding (nor the ~20 MB of the same adapter in float32)."""
    sidmap = SidMap("ml-100k", "rqkmeans", [32, 32, 32], {str(i): (i % 32, (i * 7) % 32, (i * 13) % 32) for i in range(300)})
    model, tokenizer = load_base()
    new_ids = add_sid_tokens(model, tokenizer, sidmap)
    peft_model = attach_lora(model, new_ids, LoraSettings(r=16))
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-3)
    peft_model.train()
    peft_model(**sid_batch(tokenizer, sidmap)).loss.backward()
    optimizer.step()
    peft_model.eval()
    expected = logits(peft_model, tokenizer, sidmap)
    ckpt = save_checkpoint(peft_model, tokenizer, sidmap, tmp_path / "real")
    megabytes = (ckpt / "adapter_model.safetensors").stat().st_size / 2**20
    assert 5 < megabytes < 10
    merged, _, meta = load_checkpoint(ckpt, sidmap)
    assert meta["base_model"] == "smollm2-135m-instruct" and meta["adapter_dtype"] == "float16"
    assert torch.allclose(logits(merged, tokenizer, sidmap), expected, atol=5e-3)
