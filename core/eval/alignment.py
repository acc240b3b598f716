"""The alignment probe: does the model know what each SID means?

    python -m core eval --run sft --probe alignment [--items N] [--json]

Over every catalogue item (or the first N), with the bare prompts the SFT teaches
(`core.corpus.facts`):
- `align_sid_to_title`: greedy answer to "Title of <sid>:" equals the item's title (normalised:
  case, surrounding space and runs of whitespace ignored);
- `align_title_to_sid` / `align_title_to_sid_l1`: "SID of <title>:" decoded greedily under the SID
  trie (every answer is a real item) equals the item's SID / its first level;
- `align_genres_f1`: mean F1 of the genres in the greedy answer to "Genres of <sid>:".
The metrics are stored with the run under split "align" ("align@N" for the first N items; users =
items probed) and written to the
checkpoint's metrics.json, so Overview, Compare and `runs list` show them. A model that never saw
the bare prompts scores ~0 here: the probe measures the mapping, through the prompts that taught it.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

from tqdm.auto import tqdm

from core.errors import SidLensError
from core.store import Store, now

SPLIT = "align"
MAX_TITLE_TOKENS = 32


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def genre_f1(answer: str, truth) -> float:
    said = {normalise(g) for g in answer.split(",") if g.strip()}
    true = {normalise(g) for g in truth}
    if not said and not true:
        return 1.0
    hits = len(said & true)
    return 0.0 if not hits else 2 * hits / (len(said) + len(true))


@dataclass(frozen=True)
class ItemAnswers:
    """What the model answers about one item, through the prompts the SFT teaches."""
    item_id: str
    title: str          # greedy answer to "Title of <sid>:"
    genres: str         # greedy answer to "Genres of <sid>:"
    sid_item: str       # item whose SID is the constrained greedy answer to "SID of <title>:"
    sid_score: float    # that answer's log-probability (sum over its levels)


def greedy_lines(model, tokenizer, prompts: list[str], max_new_tokens: int = MAX_TITLE_TOKENS) -> list[str]:
    """Each prompt's greedy continuation up to its first newline (special tokens kept out of the text).

    The batch is left-padded by `core.decode.inputs` like every other decoding path (generate derives
    the positions from the attention mask)."""
    import torch

    from core.decode.inputs import encode_prompts, model_device, pad_token_id

    newline = tokenizer("\n", add_special_tokens=False)["input_ids"]
    inputs = encode_prompts(tokenizer, prompts, model_device(model))
    with torch.no_grad():
        out = model.generate(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], do_sample=False,
                             max_new_tokens=max_new_tokens, eos_token_id=newline + [tokenizer.eos_token_id],
                             pad_token_id=pad_token_id(tokenizer))
    texts = tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    return [t.split("\n")[0] for t in texts]


def item_answers(model, tokenizer, ctx, items: list[str], batch_size: int = 64, progress: bool = True,
                 trie=None) -> list[ItemAnswers]:
    """The model's answers about each of `items`: its title and genres given the SID (greedy), and
    the SID given the title (greedy under the SID trie: `core.decode.beam.constrained_topk` with one
    beam, so the answer is always a real item)."""
    from core.corpus.facts import PROMPTS
    from core.decode.beam import constrained_topk
    from core.decode.trie import SidTrie

    trie = trie or SidTrie(ctx.sidmap, tokenizer)
    out: list[ItemAnswers] = []
    bar = tqdm(total=len(items), desc="alignment probe", unit="item", disable=not progress)
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        sids = [ctx.sid(i) for i in chunk]
        titles = greedy_lines(model, tokenizer, [PROMPTS["sid->title"].format(sid=s) for s in sids])
        genres = greedy_lines(model, tokenizer, [PROMPTS["sid->genres"].format(sid=s) for s in sids])
        best = constrained_topk(model, tokenizer, trie, [PROMPTS["title->sid"].format(title=ctx.title(i)) for i in chunk],
                                k=1, num_beams=1, batch_size=len(chunk), progress=False)
        out += [ItemAnswers(i, t, g, b[0].item_id, b[0].score) for i, t, g, b in zip(chunk, titles, genres, best)]
        bar.update(len(chunk))
    bar.close()
    return out


def probe_alignment(model, tokenizer, ctx, items: list[str], batch_size: int = 64, progress: bool = True) -> dict:
    """The four `align_*` metrics of `model` over `items` (see the module docstring)."""
    answers = item_answers(model, tokenizer, ctx, items, batch_size, progress)
    n = max(len(answers), 1)
    sid_of = ctx.sidmap.sid
    return {"align_sid_to_title": sum(normalise(a.title) == normalise(ctx.title(a.item_id)) for a in answers) / n,
            "align_title_to_sid": sum(a.sid_item == a.item_id for a in answers) / n,
            "align_title_to_sid_l1": sum(sid_of(a.sid_item)[0] == sid_of(a.item_id)[0] for a in answers) / n,
            "align_genres_f1": sum(genre_f1(a.genres, ctx.dataset.items[a.item_id].genres) for a in answers) / n}


def evaluate_alignment(run: str, items: int | None = None, batch_size: int = 64, dtype: str = "auto",
                       store: Store | None = None, progress: bool = True) -> dict:
    """Probe `run`'s checkpoint over the catalogue (the first `items` items), store and return the metrics."""
    from core.corpus.context import CorpusContext
    from core.eval.loading import load_for_eval
    from core.runs import card

    if items is not None and items < 1:
        raise SidLensError(f"--items must be at least 1, not {items}")
    if batch_size < 1:
        raise SidLensError(f"--batch-size must be at least 1, not {batch_size}")
    started = time.perf_counter()
    store = store or Store()
    loaded = load_for_eval(run, dtype, store)
    ctx = CorpusContext(loaded.dataset, loaded.sidmap)
    chosen = ctx.catalogue[:items] if items else ctx.catalogue
    metrics = probe_alignment(loaded.model, loaded.tokenizer, ctx, chosen, batch_size=batch_size, progress=progress)
    seconds = time.perf_counter() - started
    split_key = SPLIT if len(chosen) == len(ctx.catalogue) else f"{SPLIT}@{len(chosen)}"
    store.record_metrics(run, split_key, metrics, len(chosen))
    store.upsert("runs", {"name": run, "updated": now()})
    card.add_metrics(loaded.folder, split_key, metrics, len(chosen), seconds)
    return {"run": run, "items": len(chosen), "precision": loaded.precision, **metrics, "seconds": round(seconds, 1)}
