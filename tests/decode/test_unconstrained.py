from __future__ import annotations

import pytest

from core.decode.beam import constrained_topk
from core.decode.unconstrained import answer_item, generate_sids, invalid_rate
from core.errors import SidLensError


def test_generated_sids_resolve_to_items_or_none(toy):
    model, tokenizer, sidmap = toy["model"], toy["tokenizer"], toy["sidmap"]
    outputs = generate_sids(model, tokenizer, sidmap, toy["prompts"], batch_size=2)
    assert len(outputs) == 3
    greedy = constrained_topk(model, tokenizer, toy["trie"], toy["prompts"], k=1, num_beams=1)
    for (text, item), prompt, best in zip(outputs, toy["prompts"], greedy):
        ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        plain = model.generate(input_ids=ids, max_new_tokens=sidmap.levels + 1, do_sample=False)
        assert text == tokenizer.decode(plain[0, ids.shape[1]:], skip_special_tokens=True)
        assert item == sidmap.item_for_text(text)
        if item is not None:  # a free greedy answer that is an item is also the constrained greedy answer
            assert item == best[0].item_id and text.startswith(best[0].sid)
    assert invalid_rate(outputs) == pytest.approx(sum(i is None for _, i in outputs) / 3)


def test_answer_item_reads_after_reasoning(toy):
    sidmap = toy["sidmap"]
    sid1, sid2 = sidmap.sid_text("1"), sidmap.sid_text("2")
    assert answer_item(sidmap, sid1) == "1"
    assert answer_item(sidmap, f"<think>maybe {sid1}</think>{sid2}") == "2"
    assert answer_item(sidmap, f"<think>{sid1}</think>no idea") is None
    assert answer_item(sidmap, sid1[: sid1.rindex("<")]) is None  # two levels only
    assert invalid_rate([("x", None), (sid1, "1")]) == 0.5
    with pytest.raises(SidLensError, match="no generated outputs"):
        invalid_rate([])
