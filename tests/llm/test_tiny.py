import torch

from core.llm.backbone import default_model_dir
from core.llm.tiny import tiny_model


def test_tiny_model_uses_the_real_tokenizer_and_is_seeded():
    model, tokenizer = tiny_model()
    assert len(tokenizer) == 49152 and tokenizer.padding_side == "left"
    assert tokenizer.chat_template == (default_model_dir() / "chat_template.jinja").read_text()
    assert sum(p.numel() for p in model.parameters()) < 5_000_000
    ids = tokenizer(["hello there", "hi"], return_tensors="pt", padding=True)
    with torch.no_grad():
        logits = model(**ids).logits
    assert logits.shape[:2] == ids.input_ids.shape and logits.shape[2] == len(tokenizer)
    again, _ = tiny_model()
    assert torch.equal(again.lm_head.weight, model.lm_head.weight)
    other, _ = tiny_model(seed=1)
    assert not torch.equal(other.lm_head.weight, model.lm_head.weight)
