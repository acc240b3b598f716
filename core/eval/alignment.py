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


def _batch(tokenizer, prompts: list[str]):
    return tokenizer(prompts, padding=True, add_special_tokens=False, return_tensors="pt")


def greedy_lines(model, tokenizer, prompts: list[str], max_new_tokens: int = MAX_TITLE_TOKENS) -> list[str]:
    """Each prompt's greedy continuation up to its first newline (special tokens kept out of the text)."""
    import torch

    newline = tokenizer("\n", add_special_tokens=False)["input_ids"]
    inputs = _batch(tokenizer, prompts)
    with torch.no_grad():
        out = model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens,
                             eos_token_id=newline + [tokenizer.eos_token_id], pad_token_id=tokenizer.pad_token_id)
    texts = tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    return [t.split("\n")[0] for t in texts]


def constrained_sids(model, tokenizer, trie, prompts: list[str]) -> list[tuple[int, ...]]:
    """Greedy SID after each prompt, one level at a time, only tokens that continue a real item allowed."""
    import torch

    inputs = _batch(tokenizer, prompts)
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    paths: list[tuple[int, ...]] = [() for _ in prompts]
    with torch.no_grad():
        for _ in range(trie.depth):
            logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=1).logits[:, -1].float()
            allowed = torch.full_like(logits, float("-inf"))
            for row, path in enumerate(paths):
                allowed[row, trie.allowed(path)] = 0.0
            chosen = (logits + allowed).argmax(-1)
            paths = [path + (int(t),) for path, t in zip(paths, chosen)]
            ids = torch.cat([ids, chosen[:, None]], dim=1)
            mask = torch.cat([mask, torch.ones_like(chosen)[:, None]], dim=1)
    return [trie.codes(p) for p in paths]


def probe_alignment(model, tokenizer, ctx, items: list[str], batch_size: int = 64, progress: bool = True) -> dict:
    """The four `align_*` metrics of `model` over `items` (see the module docstring)."""
    from core.corpus.facts import PROMPTS
    from core.decode.trie import SidTrie

    trie = SidTrie(ctx.sidmap, tokenizer)
    title_hits = sid_hits = level1_hits = 0
    f1_sum = 0.0
    bar = tqdm(total=len(items), desc="alignment probe", unit="item", disable=not progress)
    for start in range(0, len(items), batch_size):
        chunk = items[start:start + batch_size]
        sids = [ctx.sid(i) for i in chunk]
        titles = greedy_lines(model, tokenizer, [PROMPTS["sid->title"].format(sid=s) for s in sids])
        title_hits += sum(normalise(t) == normalise(ctx.title(i)) for t, i in zip(titles, chunk))
        genres = greedy_lines(model, tokenizer, [PROMPTS["sid->genres"].format(sid=s) for s in sids])
        f1_sum += sum(genre_f1(g, ctx.dataset.items[i].genres) for g, i in zip(genres, chunk))
        codes = constrained_sids(model, tokenizer, trie,
                                 [PROMPTS["title->sid"].format(title=ctx.title(i)) for i in chunk])
        for c, i in zip(codes, chunk):
            truth = ctx.sidmap.sid(i)
            sid_hits += tuple(c) == tuple(truth)
            level1_hits += c[0] == truth[0]
        bar.update(len(chunk))
    bar.close()
    n = max(len(items), 1)
    return {"align_sid_to_title": title_hits / n, "align_title_to_sid": sid_hits / n,
            "align_title_to_sid_l1": level1_hits / n, "align_genres_f1": f1_sum / n}


def evaluate_alignment(run: str, items: int | None = None, batch_size: int = 64, dtype: str = "auto",
                       store: Store | None = None, progress: bool = True) -> dict:
    """Probe `run`'s checkpoint over the catalogue (the first `items` items), store and return the metrics."""
    from core.corpus.context import CorpusContext
    from core.data.registry import load_dataset
    from core.eval.runner import resolve_run
    from core.llm.adapter import load_checkpoint
    from core.llm.backbone import resolve_device
    from core.llm.precision import choose_precision
    from core.sid.build import load_sidmap
    from core.train import card
    from core.train.common import resolve_repo_path

    if items is not None and items < 1:
        raise SidLensError(f"--items must be at least 1, not {items}")
    if batch_size < 1:
        raise SidLensError(f"--batch-size must be at least 1, not {batch_size}")
    started = time.perf_counter()
    store = store or Store()
    row = resolve_run(store, run)
    dataset, sidmap = load_dataset(row["dataset"]), load_sidmap(row["dataset"])
    precision = choose_precision(dtype, resolve_device().type)
    model, tokenizer, _ = load_checkpoint(resolve_repo_path(row["checkpoint"]), sidmap,
                                          dtype="bf16" if precision == "bf16" else None)
    ctx = CorpusContext(dataset, sidmap)
    chosen = ctx.catalogue[:items] if items else ctx.catalogue
    metrics = probe_alignment(model, tokenizer, ctx, chosen, batch_size=batch_size, progress=progress)
    seconds = time.perf_counter() - started
    split_key = SPLIT if len(chosen) == len(ctx.catalogue) else f"{SPLIT}@{len(chosen)}"
    store.record_metrics(run, split_key, metrics, len(chosen))
    store.upsert("runs", {"name": run, "updated": now()})
    card.add_metrics(resolve_repo_path(row["checkpoint"]), split_key, metrics, len(chosen), seconds)
    return {"run": run, "items": len(chosen), "precision": precision, **metrics, "seconds": round(seconds, 1)}
