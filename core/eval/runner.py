"""Evaluate an LM run on the leave-one-out split: `python -m core eval --run sft --json`.

For each evaluated user (the first `users` test users in the split's fixed user order, so the same
N users every time) the canonical recommendation prompt (`core.llm.prompts`, the prompt task 1 of
the corpus trains on, without profile) is scored three ways:
- constrained beam search over the SID trie (beam >= 10) ranks ALL items, the user's earlier items
  excluded (as RecBole does; `exclude_history=False` keeps them): HR@1/5/10 and NDCG@1/5/10;
- unconstrained greedy generation of the same prompt: `invalid_rate`, the share of answers that
  name no real item (how well the model writes the SID language when nothing forces it);
- the 20-candidate protocol of S-DPO/LLaRA (`cand20_hr@1`): the target and 19 seeded never-seen
  items ranked by the likelihood of their SIDs.
All three share one prefill of each prompt (`core.eval.sid_likelihood`).
With `prompted=True` (`--prompted-candidates`) the prompted "pick from the list" variant of S-DPO
and LLaRA runs too: the same prompt with the user's same 20 candidates listed (SID and title,
`core.llm.prompts.candidate_messages`), answered greedily in a few free tokens; the item the
answer names gives `cand20_prompted_hr@1` (it is the target) and `cand20_valid_ratio` (it is one of
the 20, LLaRA's ValidRatio), and the same prefill scores the 20 listed SIDs:
`cand20_prompted_lik_hr@1` (the likeliest listed candidate is the target). It is opt-in: it costs a
second prefill per user of a prompt about twice as long, and a model never trained on
candidate-list prompts mostly fails the prompt following rather than the ranking. Reasoning
variants reason first here too. Each user's answer, whether it was listed, and the likeliest listed
candidate are stored with the per-user results and traces (paired CIs, `core.eval.significance`).

Reasoning variants (checkpoints saved with `"think": true`: reason, grpo) get the think-first prompt
and first write their reasoning greedily; the search, the free generation and the candidate
likelihoods all continue after their `</think>` (`core.eval.traces`, as SIDReasoner evaluates),
in the KV cache the reasoning's generation filled (`ReasoningPrefill`: no second prefill).
Every evaluated user's trace (prompt, reasoning, top-10 with per-level probabilities, target rank,
faithfulness flags) is stored; for reasoning variants the flag rates (`flag_*`) and the share of
reasonings the model closed itself (`think_closed_rate`) are stored beside the metrics.

Metrics, per-user results (top-10, target rank) and the evaluation's settings and git commit go to
the store under the split name ("test"), or "test@N" when only the first N users were evaluated
(so a quick check never overwrites the full-test numbers), and into the checkpoint's metrics.json
and README (`core.runs.card`). A clean clone has committed checkpoints but an empty database:
`core.runs.resolve_run` registers such a run from its folder, metrics and traces included, so
`eval --users 100` can be compared with the committed numbers.
"""
from __future__ import annotations

import time

from core.errors import SidLensError
from core.provenance import git_commit
from core.runs import card
from core.store import Store, now

PARTS = ("test", "valid")


def _prompted_picks(loaded, trie, examples, candidate_lists, batch_size: int, progress: bool) -> list[dict]:
    """Per user, the candidate-list prompt's outcome: `pick`, the item the greedy answer names ("" for
    none), `pick_listed`, whether it is a listed candidate, and `pick_lik`, the listed candidate whose
    SID is likeliest under that prompt ("" on a tie); a reasoning variant answers after its own
    reasoning, as in the rest of the evaluation."""
    from core.decode.unconstrained import answer_item
    from core.eval.candidates import best_candidate
    from core.eval.sid_likelihood import answer_and_score
    from core.eval.traces import is_reasoning, reasoned_prompts

    model, tokenizer = loaded.model, loaded.tokenizer
    prompts = loaded.prompts(examples, candidate_lists)
    if is_reasoning(loaded.meta):
        prompts = reasoned_prompts(model, tokenizer, prompts, batch_size=batch_size, progress=progress)[0]
    texts, scores = answer_and_score(model, tokenizer, trie, prompts, candidate_lists, batch_size=batch_size,
                                     progress=progress)
    picks = []
    for text, cands, row in zip(texts, candidate_lists, scores, strict=True):
        item = answer_item(loaded.sidmap, text)
        picks.append({"pick": item or "", "pick_listed": int(item is not None and item in cands),
                      "pick_lik": best_candidate(cands, row)})
    return picks


def evaluate(run: str, split: str = "test", users: int | None = None, batch_size: int = 16, k: int = 10,
             beams: int = 10, exclude_history: bool = True, candidates: bool = True, prompted: bool = False,
             dtype: str = "fp32", store: Store | None = None, progress: bool = True) -> dict:
    """Evaluate `run` on `split` and store the results; returns {"run", "users", metric: value, ...}.

    `candidates` scores the 20 candidates by SID likelihood; `prompted` also asks the model to pick
    from the listed candidates (a second, longer prompt per user). `dtype` (fp32, bf16, or auto: bf16
    where `core.llm.precision` measures it faster; the CLI's default) is recorded with the results."""
    from core.decode.trie import SidTrie
    from core.decode.unconstrained import answer_item, invalid_rate
    from core.eval.candidates import hr1_from_scores, prompted_metrics, sample_candidates
    from core.eval.loading import load_for_eval
    from core.eval.metrics import hit_ndcg, rank_of
    from core.eval.results import save_results, user_result
    from core.eval.sid_likelihood import rank_answer_and_score
    from core.eval.traces import ReasoningPrefill, closed_rate, is_reasoning, save_traces
    from core.llm.precision import machine

    if split not in PARTS:
        raise SidLensError(f"unknown split {split!r}: choose test or valid")
    if users is not None and users < 1:
        raise SidLensError(f"--users must be at least 1, not {users}")
    if k < 1 or beams < k or batch_size < 1:
        raise SidLensError(f"need k >= 1, beams >= k and batch size >= 1 (got k={k}, beams={beams}, "
                           f"batch size={batch_size})")
    started = time.perf_counter()
    store = store or Store()
    loaded = load_for_eval(run, dtype, store)
    row, dataset, sidmap, precision = loaded.row, loaded.dataset, loaded.sidmap, loaded.precision
    model, tokenizer, meta = loaded.model, loaded.tokenizer, loaded.meta
    data_split = loaded.split
    examples = data_split.examples(split)
    total = len(examples)
    examples = examples[:users] if users else examples
    shown = loaded.prompts(examples)
    # a reasoning variant is searched, scored and asked after its own reasoning, in the generation's cache
    reasoner = ReasoningPrefill(model, tokenizer) if is_reasoning(meta) else None
    trie = SidTrie(sidmap, tokenizer)
    exclude = [data_split.seen_before(ex.user_id, split) for ex in examples] if exclude_history else None
    lists = None
    if candidates or prompted:
        lists = [sample_candidates(data_split, ex.user_id, part=split) for ex in examples]
    recs, scores, answers = rank_answer_and_score(model, tokenizer, trie, shown, lists if candidates else None, k=k,
                                                  num_beams=beams, exclude=exclude, batch_size=batch_size,
                                                  progress=progress, prefill=reasoner)
    reasonings = [text for text, _ in reasoner.pairs] if reasoner else None
    targets = [ex.target for ex in examples]
    picks = [{}] * len(examples)
    if prompted:
        picks = _prompted_picks(loaded, trie, examples, lists, batch_size, progress)
    per_user = []
    for ex, rec, pick in zip(examples, recs, picks, strict=True):
        ranked = [r.item_id for r in rec]
        per_user.append(user_result(ex.user_id, ex.target, ranked, rank_of(ex.target, ranked), **pick))
    metrics = hit_ndcg([r["rank"] for r in per_user])
    metrics["invalid_rate"] = invalid_rate([(text, answer_item(sidmap, text)) for text in answers])
    if candidates:
        metrics["cand20_hr@1"] = hr1_from_scores(lists, scores, targets)
    if prompted:
        metrics.update(prompted_metrics(lists, [p["pick"] or None for p in picks], targets,
                                        likeliest=[p["pick_lik"] for p in picks]))
    rates = save_traces(store, run, split, examples, shown, reasonings, recs, dataset, sidmap,
                        folder=loaded.folder, picks=picks)
    if reasonings is not None:  # a direct answer has no reasoning to flag
        metrics.update(think_closed_rate=closed_rate(reasoner.pairs), **rates)
    split_key = split if len(examples) == total else f"{split}@{len(examples)}"
    seconds = time.perf_counter() - started
    settings = {"split": split, "users": len(examples), "k": k, "beams": beams, "exclude_history": exclude_history,
                "candidates": candidates, "prompted": prompted, "batch_size": batch_size, "precision": precision,
                "machine": machine(), "git_commit": git_commit(),
                "seconds": round(seconds, 1), "updated": now()}
    save_results(store, run, split_key, per_user, metrics, len(examples))
    config = row["config"] if isinstance(row.get("config"), dict) else {}
    store.upsert("runs", {"name": run, "config": {**config, "evals": {**config.get("evals", {}), split_key: settings}},
                          "updated": now()})
    card.add_metrics(loaded.folder, split_key, metrics, len(examples), seconds)
    return {"run": run, "users": len(examples), "precision": precision, **metrics}
