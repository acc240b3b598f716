"""Token streaming for the app, and SID runs in generated text resolved to items.

`stream_text` runs `model.generate` in a worker thread (so sampling, stop strings, the KV cache
and every logits processor come from transformers) and yields text as each token arrives. The
streamer is our own small `BaseStreamer`, not `TextIteratorStreamer`: that one only releases text
up to the last space, so a run of SID tokens (`<a_1><b_2><c_3>`, no spaces) would appear in one
lump at the next space; ours emits every token as soon as it decodes to whole characters (a
byte-level BPE token can end mid-character, shown as U+FFFD; such text is held back until the
next token completes it). Decoding uses `skip_special_tokens=False` so nothing the template
marks as special (e.g. `<think>` on some models) disappears; SID tokens are non-special added
tokens and would survive either way. EOS/pad ids are not shown. Leaving the iterator early
(the app's stop button) stops generation at the next token.
"""
from __future__ import annotations

import queue
import threading
from typing import Iterator

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from core.decode.inputs import encode_prompts, model_device, stop_token_ids
from core.sid.sidmap import LEVEL_LETTERS, TOKEN_RE, SidMap

_DONE = object()


class TokenChunkStreamer(BaseStreamer):
    """Receives token ids from `generate` and queues the text each new token adds."""

    def __init__(self, tokenizer, hidden_ids: set[int]):
        self.tokenizer, self.hidden_ids = tokenizer, hidden_ids
        self.queue: queue.Queue = queue.Queue()
        self.ids: list[int] = []
        self.shown = 0
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate first hands over the prompt itself
            self.prompt_seen = True
            return
        self.ids += [i for i in value.reshape(-1).tolist() if i not in self.hidden_ids]
        self._emit(final=False)

    def end(self) -> None:
        self._emit(final=True)
        self.queue.put(_DONE)

    def _emit(self, final: bool) -> None:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if text.endswith("\ufffd") and not final:
            return
        if len(text) > self.shown:
            self.queue.put(text[self.shown:])
            self.shown = len(text)


class _Cancelled(StoppingCriteria):
    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


def stream_text(model, tokenizer, prompt: str, max_new_tokens: int = 256, temperature: float = 0.0,
                stop_at: str | list[str] | None = None, **generate_kwargs) -> Iterator[str]:
    """Yield the continuation of `prompt` chunk by chunk (one token's text each, mostly).

    `temperature=0` is greedy; above 0 samples with that temperature (pass `top_p=` etc. through
    `generate_kwargs`). `stop_at` ends generation once that text (or any of those texts) has been
    produced; it is included in the output.
    """
    batch = encode_prompts(tokenizer, [prompt], model_device(model))
    streamer = TokenChunkStreamer(tokenizer, stop_token_ids(model, tokenizer))
    cancel = threading.Event()
    kwargs = dict(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], max_new_tokens=max_new_tokens,
                  streamer=streamer, stopping_criteria=StoppingCriteriaList([_Cancelled(cancel)]),
                  do_sample=temperature > 0, **generate_kwargs)
    if temperature > 0:
        kwargs["temperature"] = temperature
    if stop_at:
        kwargs.update(stop_strings=[stop_at] if isinstance(stop_at, str) else list(stop_at), tokenizer=tokenizer)
    failure: list[BaseException] = []

    def work():
        try:
            with torch.no_grad():
                model.generate(**kwargs)
        except BaseException as exc:  # re-raised in the consumer's thread below
            failure.append(exc)
            streamer.queue.put(_DONE)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        while (chunk := streamer.queue.get()) is not _DONE:
            yield chunk
    finally:
        cancel.set()
        worker.join()
    if failure:
        raise failure[0]


def split_sid_chunks(text: str, sidmap: SidMap) -> list[tuple[str, str, str | None]]:
    """Split text into ("text", str, None) and ("sid", str, item_id | None) pieces, in order.

    A run of adjacent SID tokens is cut into SIDs: a new SID starts at a first-level token, after a
    level that does not follow the previous one, or once `levels` tokens are collected. A SID
    resolves to its item when its levels are complete and in order and the map has those codes;
    anything else (a partial SID, an unused code combination) is returned with None so the app can
    flag it as not an item.
    """
    pieces: list[tuple[str, str, str | None]] = []
    last = 0
    current: list[tuple[int, int, str]] = []  # (level, code, token text) of the SID being collected

    def close():
        if current:
            codes = [c for _, c, _ in current]
            complete = [lv for lv, _, _ in current] == list(range(sidmap.levels))
            pieces.append(("sid", "".join(t for _, _, t in current), sidmap.item_for(codes) if complete else None))
            current.clear()

    for match in TOKEN_RE.finditer(text):
        level, code = LEVEL_LETTERS.index(match.group(1)), int(match.group(2))
        if match.start() > last:
            close()
            pieces.append(("text", text[last:match.start()], None))
        if current and (level == 0 or level != current[-1][0] + 1 or len(current) == sidmap.levels):
            close()
        current.append((level, code, match.group(0)))
        last = match.end()
    close()
    if last < len(text):
        pieces.append(("text", text[last:], None))
    return pieces
