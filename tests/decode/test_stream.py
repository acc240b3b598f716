from __future__ import annotations

import threading

import torch

from core.decode.stream import split_sid_chunks, stream_text


def plain_greedy(model, tokenizer, prompt, max_new_tokens):
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    out = model.generate(input_ids=ids, max_new_tokens=max_new_tokens, do_sample=False)[0, ids.shape[1]:]
    return tokenizer.decode([i for i in out.tolist() if i != tokenizer.eos_token_id], skip_special_tokens=False)


def test_stream_yields_the_greedy_text_token_by_token_with_sid_tokens(toy):
    model, tokenizer, prompt = toy["model"], toy["tokenizer"], toy["prompts"][0]
    chunks = list(stream_text(model, tokenizer, prompt, max_new_tokens=12))
    text = "".join(chunks)
    assert text == plain_greedy(model, tokenizer, prompt, 12)
    assert "<a_" in text and len(chunks) >= 2  # SID tokens survive and arrive separately
    assert all(chunk for chunk in chunks)


def test_stop_at_and_sampling(toy):
    model, tokenizer, prompt = toy["model"], toy["tokenizer"], toy["prompts"][0]
    full = "".join(stream_text(model, tokenizer, prompt, max_new_tokens=12))
    stop = full[full.index("<a_"):full.index(">", full.index("<a_")) + 1]
    stopped = "".join(stream_text(model, tokenizer, prompt, max_new_tokens=12, stop_at=stop))
    assert stopped.endswith(stop) and stopped == full[:len(stopped)] and len(stopped) < len(full)
    torch.manual_seed(3)
    first = "".join(stream_text(model, tokenizer, prompt, max_new_tokens=8, temperature=1.5))
    torch.manual_seed(3)
    assert "".join(stream_text(model, tokenizer, prompt, max_new_tokens=8, temperature=1.5)) == first


def test_leaving_early_stops_the_worker(toy):
    model = toy["model"]
    calls = []
    hook = model.register_forward_hook(lambda *args: calls.append(1))
    try:
        before = threading.active_count()
        stream = stream_text(model, toy["tokenizer"], toy["prompts"][0], max_new_tokens=400, min_new_tokens=400)
        next(stream)
        stream.close()
    finally:
        hook.remove()
    assert threading.active_count() == before
    assert len(calls) < 20  # generation stopped soon after the consumer left, not after 400 tokens


def test_split_sid_chunks_resolves_items_and_flags_non_items(toy):
    sidmap = toy["sidmap"]
    sid1, sid2 = sidmap.sid_text("1"), sidmap.sid_text("2")
    unused = next(f"<a_{a}><b_{b}><c_{c}>" for a in range(6) for b in range(5) for c in range(6)
                  if (a, b, c) not in set(sidmap.codes.values()))
    text = f"Try {sid1}{sid2} or {unused}, not <a_1><b_2> and <c_3>!"
    pieces = split_sid_chunks(text, sidmap)
    assert "".join(p[1] for p in pieces) == text
    assert pieces == [("text", "Try ", None), ("sid", sid1, "1"), ("sid", sid2, "2"), ("text", " or ", None),
                      ("sid", unused, None), ("text", ", not ", None), ("sid", "<a_1><b_2>", None),
                      ("text", " and ", None), ("sid", "<c_3>", None), ("text", "!", None)]
    assert split_sid_chunks("", sidmap) == [] and split_sid_chunks("plain", sidmap) == [("text", "plain", None)]
