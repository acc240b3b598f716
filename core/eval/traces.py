"""Reasoning evaluation and stored traces: what a variant wrote, what it ranked, what is wrong with it.

Reasoning variants (checkpoints saved with `"think": true`: the reason and grpo stages) are
evaluated as SIDReasoner evaluates: the model first writes its reasoning greedily until `</think>`
(`generate_reasoning`), then the constrained beam search over the SID trie continues from
prompt + reasoning, i.e. at the position where training put the SID. A reasoning that never
closes (the token budget ran out, or the model ended its turn inside `<think>`) is closed with
`</think>` so the search still runs at the answer position; a model that wrote no `<think>` at all
is searched from the prompt, as the app's Reasoning page does. The share of reasonings the model
closed itself is reported as `think_closed_rate`. The runner does both in one pass per batch
(`ReasoningPrefill`): the search starts in the KV cache the reasoning's generation filled, so
prompt + reasoning is not prefilled a second time.

`save_traces` stores one trace per evaluated user (every variant, reasoning or not, so pages can
compare them without running a model): prompt, full reasoning, history, top-10 with per-level
probabilities, target and its rank (None beyond the top-10), and the faithfulness flags of the
reasoning (`core.eval.faithfulness`); it returns the flag rates, which the runner stores beside the
metrics. Trace ids are `<run>/<split>/<user>`, so re-evaluating replaces a user's trace. The traces
are also merged into the checkpoint folder's `traces.jsonl` (a few hundred KB for 200 users), so a
clean clone, whose database is empty, gets them back when the run is registered (`import_traces`).
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import torch
from tqdm.auto import tqdm

from core.atomic import read_jsonl, write_jsonl
from core.data.schema import Dataset
from core.data.split import Example
from core.decode.inputs import encode_prompts, model_device, pad_left, pad_token_id, stop_token_ids
from core.decode.results import Recommendation
from core.llm.prompts import MAX_REASONING_TOKENS, THINK_END, THINK_START
from core.sid.sidmap import SidMap
from core.store import Store, now

TRACES_FILE = "traces.jsonl"


def is_reasoning(meta: dict) -> bool:
    """Whether a checkpoint (its `sidlens.json`) was trained to think before the SID."""
    return bool(meta.get("think"))


def close_reasoning(generated: str) -> tuple[str, bool]:
    """(the text the search continues from, whether the model closed `</think>` itself)."""
    head, found, _ = generated.partition(THINK_END)
    if found:
        return head + found, True
    if generated.lstrip().startswith(THINK_START):
        return generated.rstrip() + "\n" + THINK_END, False
    return "", False


def think_end_length(tokenizer, ids: list[int]) -> int | None:
    """How many of `ids` (tokens generated after the prompt) the reasoning takes: up to and including the
    token that completes `</think>` (where the SID follows), or None when their text never closes it.
    A binary search over prefixes: whether the decoded text contains `</think>` only grows with the prefix."""
    def closes(n: int) -> bool:
        return THINK_END in tokenizer.decode(ids[:n], skip_special_tokens=True, clean_up_tokenization_spaces=False)

    if not closes(len(ids)):
        return None
    low, high = 1, len(ids)
    while low < high:
        mid = (low + high) // 2
        low, high = (mid + 1, high) if not closes(mid) else (low, mid)
    return low


def closed_rate(pairs: list[tuple[str, bool]]) -> float:
    """Share of `close_reasoning` pairs whose reasoning the model closed itself (`think_closed_rate`)."""
    return sum(closed for _, closed in pairs) / len(pairs) if pairs else 0.0


@torch.no_grad()
def generate_reasoning(model, tokenizer, prompts: list[str], max_new_tokens: int = MAX_REASONING_TOKENS,
                       batch_size: int = 8, progress: bool = False) -> list[tuple[str, bool]]:
    """Greedy reasoning per prompt, cut after `</think>`, as `close_reasoning` pairs."""
    out = []
    for start in tqdm(range(0, len(prompts), batch_size), desc="reasoning", unit="batch", disable=not progress):
        batch = encode_prompts(tokenizer, prompts[start:start + batch_size], model_device(model))
        ids = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], do_sample=False,
                             max_new_tokens=max_new_tokens, pad_token_id=pad_token_id(tokenizer),
                             stop_strings=[THINK_END], tokenizer=tokenizer)
        texts = tokenizer.batch_decode(ids[:, batch["input_ids"].shape[1]:], skip_special_tokens=True,
                                       clean_up_tokenization_spaces=False)
        out += [close_reasoning(t) for t in texts]
    return out


def reasoned_prompts(model, tokenizer, prompts: list[str], max_new_tokens: int = MAX_REASONING_TOKENS,
                     batch_size: int = 8, progress: bool = False) -> tuple[list[str], list[str], float]:
    """(prompt + reasoning for the search, the reasonings, `think_closed_rate`): the runner's hook."""
    pairs = generate_reasoning(model, tokenizer, prompts, max_new_tokens, batch_size, progress)
    reasonings = [r for r, _ in pairs]
    return [p + r for p, r in zip(prompts, reasonings)], reasonings, closed_rate(pairs)


class ReasoningPrefill:
    """`constrained_topk`'s `prefill` for reasoning variants: per batch, generate the reasoning
    greedily (as `generate_reasoning`) and start the search at the answer position IN THE CACHE
    THE GENERATION FILLED, instead of prefilling prompt + reasoning again (for ~650-token prompts
    that second prefill was most of a reasoning evaluation's search time).

    The search continues after the generated tokens up to the one that completes `</think>`; an
    unclosed reasoning gets the tokens of "\n</think>" appended, and a reply without `<think>` is
    searched from the prompt, as `close_reasoning` does for text. Cache columns past that point
    (tokens generated after `</think>`, padding of rows that stopped early) are masked out. The last
    kept token is fed again (its cache column masked) so the forward pass yields the next-token
    log-probs at the answer position. `pairs` collects `close_reasoning`'s (text, closed) per user.
    """

    def __init__(self, model, tokenizer, max_new_tokens: int = MAX_REASONING_TOKENS):
        self.model, self.tokenizer, self.max_new_tokens = model, tokenizer, max_new_tokens
        self.close_ids = tokenizer("\n" + THINK_END, add_special_tokens=False)["input_ids"]
        self.stop_ids = stop_token_ids(model, tokenizer)
        self.pairs: list[tuple[str, bool]] = []

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def _kept(self, ids: list[int]) -> tuple[int, list[int]]:
        """(generated tokens the answer follows, tokens to append) for one row; records its pair."""
        text, closed = close_reasoning(self._decode(ids))
        self.pairs.append((text, closed))
        if closed:
            return think_end_length(self.tokenizer, ids), []
        if not text:
            return 0, []
        end = next((j for j, t in enumerate(ids) if t in self.stop_ids), len(ids))
        return end, self.close_ids

    @torch.no_grad()
    def __call__(self, start: int, rows: list[list[int]]):
        device, pad = model_device(self.model), pad_token_id(self.tokenizer)
        batch = pad_left(rows, pad, device)
        out = self.model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], do_sample=False,
                                  max_new_tokens=self.max_new_tokens, pad_token_id=pad, stop_strings=[THINK_END],
                                  tokenizer=self.tokenizer, return_dict_in_generate=True)
        width, cache = batch["input_ids"].shape[1], out.cache
        mask = torch.zeros(len(rows), cache.get_seq_length(), dtype=torch.long, device=device)
        mask[:, :width] = batch["attention_mask"]
        tails, lengths = [], []
        for b, ids in enumerate(out.sequences[:, width:].tolist()):
            kept, closing = self._kept(ids)
            mask[b, width:width + kept - 1] = 1
            if width + kept - 1 < mask.shape[1]:  # the last kept token is fed again below
                mask[b, width + kept - 1] = 0
            tails.append([(rows[b] + ids[:kept])[-1]] + closing)
            lengths.append(len(rows[b]) + kept)
        tail = pad_left(tails, pad, device)
        positions = tail["position_ids"] + torch.tensor(lengths, device=device)[:, None] - 1
        attention = torch.cat([mask, tail["attention_mask"]], dim=1)
        logits = self.model(input_ids=tail["input_ids"], attention_mask=attention, position_ids=positions, cache=cache,
                            use_cache=True, logits_to_keep=1).logits
        return torch.log_softmax(logits[:, -1].float(), dim=-1), cache, attention, positions[:, -1]


def trace_flags(checker, reasoning: str, history, ranked: Sequence[str]) -> dict[str, list[str]]:
    """A trace's faithfulness flags: its reasoning against the history, and, when there is a reasoning,
    its conclusion against the top-1 item (`ranked`: the item ids, best first)."""
    return checker.flags(reasoning, history, answer=ranked[0] if reasoning and ranked else None)


def ranked_ids(trace: dict) -> list[str]:
    """The item ids of a stored trace's top-k, best first."""
    return [r["item_id"] if isinstance(r, dict) else str(r) for r in trace.get("topk") or []]


def save_traces(store: Store, run: str, split: str, examples: Sequence[Example], prompts: Sequence[str],
                reasonings: Sequence[str] | None, recs: Sequence[Sequence[Recommendation]], dataset: Dataset,
                sidmap: SidMap, source: str = "eval", folder: Path | None = None,
                picks: Sequence[dict] | None = None) -> dict[str, float]:
    """Store one trace per example (prompt WITHOUT the reasoning; reasoning "" for direct variants),
    and merge them into `folder`'s traces file when given; returns their flag rates (`flag_*`).
    `picks` (per example {"pick", "pick_listed", "pick_lik"}: the candidate-list prompt's outcome) are kept
    beside the top-k, so a clean clone rebuilds the prompted protocol's per-user results too."""
    from core.eval.faithfulness import FaithfulnessChecker, flag_rates

    checker = FaithfulnessChecker(dataset, sidmap)
    reasonings = reasonings if reasonings is not None else [""] * len(examples)
    picks = picks if picks is not None else [{}] * len(examples)
    rows, all_flags = [], []
    for ex, prompt, reasoning, rec, pick in zip(examples, prompts, reasonings, recs, picks, strict=True):
        ranked = [r.item_id for r in rec]
        flags = trace_flags(checker, reasoning, ex.history, ranked)
        all_flags.append(flags)
        rows.append({"id": f"{run}/{split}/{ex.user_id}", "run": run, "split": split, "user_id": ex.user_id,
                     "history": list(ex.history), "prompt": prompt, "reasoning": reasoning,
                     "topk": [asdict(r) for r in rec], "target": ex.target,
                     "target_rank": ranked.index(ex.target) + 1 if ex.target in ranked else None,
                     "flags": flags, "source": source, "created": now(),
                     "pick": pick.get("pick"), "pick_listed": pick.get("pick_listed"),
                     "pick_lik": pick.get("pick_lik")})
    store.upsert("traces", rows)
    if folder is not None:
        kept = {row["id"]: row for row in read_jsonl(Path(folder) / TRACES_FILE)}
        write_jsonl(Path(folder) / TRACES_FILE, {**kept, **{row["id"]: row for row in rows}}.values())
    return flag_rates(all_flags)


def import_traces(store: Store, folder, run: str | None = None) -> int:
    """Put the traces shipped in a checkpoint folder into the store (a clean clone's empty database),
    and rebuild the per-user results of each evaluated split from them (target, top-10, rank), which
    the paired confidence intervals, exposure and drill-down read: under the split ("test", where
    pages meet runs evaluated on different user counts) and, when the checkpoint's metrics were
    taken on its first N users, also under "test@N", as the evaluation itself stored them.

    `run` (the name the folder is registered under) re-keys the traces to it: a folder copied under
    another name (a previous version kept beside the new one) holds traces written for the original
    run, and imported as they are they replaced that run's traces and per-user results in the store."""
    from core.eval.results import save_user_results, user_result
    from core.runs import card

    rows = read_jsonl(Path(folder) / TRACES_FILE)
    if run is not None:
        rows = [{**row, "run": run, "id": f"{run}/{row['split']}/{row['user_id']}"} for row in rows]
    store.upsert("traces", rows)
    by_split: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        if row.get("target") and row.get("source", "eval") == "eval":
            ranked = ranked_ids(row)
            by_split.setdefault((row["run"], row["split"]), []).append(
                user_result(row["user_id"], row["target"], ranked, row.get("target_rank"), row.get("pick"),
                            row.get("pick_listed"), row.get("pick_lik")))
    evaluated = card.read_metrics(Path(folder))
    for (run, split), per_user in by_split.items():
        save_user_results(store, run, split, per_user)
        if f"{split}@{len(per_user)}" in evaluated:  # an evaluation of the first N users: its own key too
            save_user_results(store, run, f"{split}@{len(per_user)}", per_user)
    return len(rows)


def reflag(store: Store, run: str, split_key: str = "test") -> dict:
    """Check the stored traces of `run` on `split_key` ("test", or "test@200": the users that
    evaluation covered) again with the current faithfulness checker, without running a model: the
    checker grows stricter over time, and a variant's flag rates should follow it. Each trace's flags
    (store and the checkpoint's traces file) and the split's `flag_*` metrics (store and
    metrics.json) are replaced; returns {"run", "split", "users", flag_*: rate}."""
    from core.data.registry import load_dataset
    from core.data.split import Split
    from core.errors import SidLensError
    from core.eval.faithfulness import FaithfulnessChecker, flag_rates
    from core.runs import card, resolve_repo_path, resolve_run
    from core.sid.build import load_sidmap

    row = resolve_run(store, run)
    dataset, sidmap = load_dataset(row["dataset"], store), load_sidmap(row["dataset"], store)
    split, _, first = split_key.partition("@")
    by_user = {t["user_id"]: t for t in load_traces(store, run, split)}
    if not by_user:
        raise SidLensError(f"run {run!r} has no stored traces on {split!r}: evaluate it first (python -m core eval)")
    users = [ex.user_id for ex in Split(dataset).examples(split)][:int(first) if first else None]  # as eval --users
    missing = [u for u in users if u not in by_user]
    if missing:
        raise SidLensError(f"{len(missing)} of the {len(users)} users of {split_key} have no stored trace of {run}")
    traces = [by_user[u] for u in users]
    if not any((t.get("reasoning") or "").strip() for t in traces):
        raise SidLensError(f"{run} answers without reasoning: its traces have nothing to flag")
    checker = FaithfulnessChecker(dataset, sidmap)
    for t in traces:
        t["flags"] = trace_flags(checker, t["reasoning"], t["history"], ranked_ids(t))
    store.upsert("traces", traces)
    folder = resolve_repo_path(row["checkpoint"])
    kept = {r["id"]: r for r in read_jsonl(folder / TRACES_FILE)}
    if kept:
        write_jsonl(folder / TRACES_FILE, {**kept, **{t["id"]: t for t in traces if t["id"] in kept}}.values())
    rates = flag_rates([t["flags"] for t in traces])
    store.record_metrics(run, split_key, rates, len(traces))
    entry = card.read_metrics(folder).get(split_key)
    if entry is not None:
        metrics = {k: v for k, v in entry.items() if k not in ("users", "seconds") and not k.startswith("flag_")}
        card.add_metrics(folder, split_key, {**metrics, **rates}, entry.get("users", len(traces)), entry.get("seconds", 0))
    return {"run": run, "split": split_key, "users": len(traces), **rates}


def load_traces(store: Store, run: str, split: str = "test") -> list[dict]:
    """The stored traces of a run on a split, in user order of storage."""
    return store.rows("traces", "run = ? and split = ?", [run, split], order_by="rowid")
