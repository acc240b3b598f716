"""Reasoning evaluation on a tiny model that has learnt to think before its SID: the reasoning is
cut at `</think>` (or closed when the budget runs out), the search continues after it, and one trace
per user is stored with its top-10, target rank and faithfulness flags."""
from __future__ import annotations

import shutil

import pytest
import torch

from core.data.schema import Dataset, Item
from core.data.split import Example
from core.decode.beam import constrained_topk
from core.decode.trie import SidTrie
from core.eval.traces import (
    close_reasoning,
    closed_rate,
    generate_reasoning,
    load_traces,
    reasoned_prompts,
    save_traces,
    think_end_length,
)
from core.llm.prompts import render_prompt
from core.llm.sid_tokens import add_sid_tokens
from core.llm.tiny import tiny_model
from core.sid.sidmap import SidMap
from core.store import Store
from tests.helpers import save_base

ITEMS = {str(i): Item(str(i), f"Film {i}", 1990 + i, ("Drama",) if i % 2 else ("Comedy",)) for i in range(1, 9)}
DATASET = Dataset("toy", ITEMS, {}, {})
SIDMAP = SidMap("toy", "hand", [2, 2, 2], {str(i): ((i - 1) // 4, (i - 1) // 2 % 2, (i - 1) % 2) for i in range(1, 9)})
# user 1 is told the truth; user 2's reasoning names a SID that is no item and a film they never watched
EXAMPLES = [Example("1", ("1", "2"), "3"), Example("2", ("5", "6", "7"), "8")]
REASONINGS = ["<think>\nThey watched Film 1 (1991).\n</think>", "<think>\nThey watched Film 4 (1994) <a_1><b_1>.\n</think>"]


@pytest.fixture(scope="module")
def thinker():
    """A tiny Llama trained until it writes REASONINGS[u] then the target's SID for prompt u."""
    torch.set_num_threads(1)
    model, tokenizer = tiny_model(seed=0)
    torch.manual_seed(0)
    add_sid_tokens(model, tokenizer, SIDMAP)
    prompts = [render_prompt(tokenizer, [{"role": "user", "content": "Watched " + " ".join(ex.history)}])
               for ex in EXAMPLES]
    texts = [p + r + SIDMAP.sid_text(ex.target) + tokenizer.eos_token for p, r, ex in zip(prompts, REASONINGS, EXAMPLES)]
    batch = tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt")  # left padding
    batch["position_ids"] = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)  # as at inference
    answer = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) - len(tokenizer(p, add_special_tokens=False)["input_ids"])
              for t, p in zip(texts, prompts)]
    keep = max(answer) + 1  # only the answer positions go through the 49k-word output layer
    targets = batch["input_ids"][:, -keep + 1:].clone()
    for row, n in enumerate(answer):
        targets[row, :keep - 1 - n] = -100
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(120):
        logits = model(**batch, logits_to_keep=keep).logits[:, :-1]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), tokenizer, prompts


def test_close_reasoning():
    assert close_reasoning("<think>\nab\n</think><a_1>...") == ("<think>\nab\n</think>", True)
    assert close_reasoning("<think>\nab cut") == ("<think>\nab cut\n</think>", False)
    assert close_reasoning("<a_1><b_0><c_1>") == ("", False)  # answered without thinking: search from the prompt
    pairs = [close_reasoning(t) for t in ("<think>a</think>", "<think>b", "<a_1>", "<think>c</think><a_2>")]
    assert closed_rate(pairs) == 0.5 and closed_rate([]) == 0.0


def test_think_end_length_is_the_shortest_prefix_that_closes():
    _, tokenizer = tiny_model()
    ids = tokenizer("<think>\nlikes drama\n</think>The answer </think> again", add_special_tokens=False)["input_ids"]
    n = think_end_length(tokenizer, ids)
    assert tokenizer.decode(ids[:n]).endswith("</think>") and "</think>" not in tokenizer.decode(ids[:n - 1])
    assert tokenizer.decode(ids[:n]).count("</think>") == 1
    assert think_end_length(tokenizer, tokenizer("<think>\nno end", add_special_tokens=False)["input_ids"]) is None
    assert think_end_length(tokenizer, []) is None


def test_reasoning_is_generated_until_think_end(thinker):
    model, tokenizer, prompts = thinker
    assert generate_reasoning(model, tokenizer, prompts, batch_size=2) == [(r, True) for r in REASONINGS]
    short = generate_reasoning(model, tokenizer, prompts[:1], max_new_tokens=4)
    assert short[0][1] is False and short[0][0].startswith("<think>") and short[0][0].endswith("\n</think>")


def test_traces_are_stored_with_ranks_and_flags(thinker, store):
    model, tokenizer, prompts = thinker
    searched, reasonings, closed = reasoned_prompts(model, tokenizer, prompts, batch_size=2)
    assert closed == 1.0 and searched == [p + r for p, r in zip(prompts, REASONINGS)]
    recs = constrained_topk(model, tokenizer, SidTrie(SIDMAP, tokenizer), searched, k=3, num_beams=4,
                            exclude=[set(ex.history) for ex in EXAMPLES])
    assert [r[0].item_id for r in recs] == ["3", "8"]  # after its reasoning the model names its target first
    store.start_run("grpo", dataset="toy", stage="grpo", config={})
    rates = save_traces(store, "grpo", "test", EXAMPLES, prompts, reasonings, recs, DATASET, SIDMAP)
    assert rates["flag_not_in_history"] == 0.5 and rates["flag_unknown_sid"] == 0.5 and rates["flag_any"] == 0.5
    traces = load_traces(store, "grpo")
    assert [t["user_id"] for t in traces] == ["1", "2"] and [t["target_rank"] for t in traces] == [1, 1]
    first = traces[0]
    assert first["prompt"] == prompts[0] and first["reasoning"] == REASONINGS[0] and first["history"] == ["1", "2"]
    assert len(first["topk"]) == 3 and len(first["topk"][0]["level_probs"]) == 3
    assert not any(first["flags"].values())
    assert traces[1]["flags"]["not_in_history"] == ["Film 4 (1994) is said to be in the history"]
    save_traces(store, "grpo", "test", EXAMPLES, prompts, reasonings, recs, DATASET, SIDMAP)  # re-run replaces
    assert len(load_traces(store, "grpo")) == 2


def test_runner_reasons_before_searching_and_stores_flagged_traces(tmp_path, monkeypatch):
    """`evaluate` on a think checkpoint: think-first prompts, reasoning before the search, one trace per
    user, flag rates beside the metrics. The tiny base is trained to claim every user watched Toy Story."""
    from core.data.registry import load_dataset
    from core.data.split import Split
    from core.eval.loading import render_prompts
    from core.eval.runner import evaluate
    from core.llm.adapter import LoraSettings, attach_lora, save_checkpoint
    from core.runs import card
    from core.sid.build import sidmap_path

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SIDLENS_CHECKPOINTS", str(tmp_path / "checkpoints"))
    torch.set_num_threads(1)
    dataset = load_dataset("ml-100k")
    ordered = sorted(dataset.items, key=int)
    sidmap = SidMap("ml-100k", "hand", [16, 16, 8], {i: (n % 16, n // 16 % 16, n // 256) for n, i in enumerate(ordered)})
    sidmap.save(sidmap_path("ml-100k"))
    model, tokenizer = tiny_model(seed=2)
    torch.manual_seed(0)
    add_sid_tokens(model, tokenizer, sidmap)
    thought = "<think>\nThey watched Toy Story (1995).\n</think>"
    examples = Split(dataset).examples("test")[:4]
    prompts = render_prompts(tokenizer, sidmap, dataset, examples, {"think": True})
    batch = tokenizer([p + thought for p in prompts], add_special_tokens=False, padding=True, return_tensors="pt")
    batch["position_ids"] = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    keep = len(tokenizer(thought, add_special_tokens=False)["input_ids"]) + 1
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(80):
        logits = model(**batch, logits_to_keep=keep).logits[:, :-1]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 batch["input_ids"][:, -keep + 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    save_base(model, tokenizer, tmp_path / "base")
    peft_model = attach_lora(model.eval(), add_sid_tokens(model, tokenizer, sidmap), LoraSettings(r=4))
    folder = save_checkpoint(peft_model, tokenizer, sidmap, tmp_path / "checkpoints" / "reason",
                             meta={"base_model": str(tmp_path / "base"), "run": "reason", "stage": "reason", "think": True})
    card.write_run(folder, {"run": "reason", "stage": "reason", "parent": "sft", "dataset": "ml-100k", "command": "test"})

    result = evaluate("reason", users=4, batch_size=4, candidates=False, progress=False)
    # What the tiny model writes after 80 steps depends on the CPU's kernels (it usually is `thought`),
    # so the checks below hold for whatever it wrote: the rates are those of the stored reasonings.
    traces = load_traces(Store(), "reason")
    # (on an AMX Xeon one of the four wrote nothing before EOS, two wrote broken tags: all are stored as written)
    assert len(traces) == 4 and all(isinstance(t["reasoning"], str) for t in traces)
    assert result["think_closed_rate"] == sum(t["reasoning"].endswith("</think>") for t in traces) / 4
    assert all(t["prompt"] == p for t, p in zip(traces, prompts))  # the think-first prompt, without the reasoning
    from core.eval.faithfulness import FaithfulnessChecker

    checker = FaithfulnessChecker(dataset, sidmap)
    # the answer is checked against the reasoning's conclusion when there is a reasoning to check
    assert [t["flags"] for t in traces] == [
        checker.flags(t["reasoning"], t["history"], answer=t["topk"][0]["item_id"] if t["reasoning"] else None)
        for t in traces]
    not_watched = [bool(t["flags"]["not_in_history"]) for t in traces]
    assert result["flag_not_in_history"] == sum(not_watched) / 4
    for t in traces:  # the claim "They watched Toy Story" is flagged exactly where item 1 is not in the history
        if t["reasoning"] == thought:
            assert bool(t["flags"]["not_in_history"]) == ("1" not in t["history"])
    # the traces travel with the checkpoint: a clean clone's empty database gets them when the run registers
    from core.runs import resolve_run

    clean = Store(tmp_path / "clean.db")
    registered = resolve_run(clean, "reason")
    assert (registered["stage"], registered["parent"]) == ("reason", "sft")
    assert load_traces(clean, "reason") == traces
    # a copy of the folder under another name registers as its own run and leaves the original's rows alone
    shutil.copytree(folder, tmp_path / "checkpoints" / "reason-copy")
    resolve_run(clean, "reason-copy")
    assert load_traces(clean, "reason") == traces
    copied = load_traces(clean, "reason-copy")
    assert [t["reasoning"] for t in copied] == [t["reasoning"] for t in traces]
    assert {t["run"] for t in copied} == {"reason-copy"} and all(t["id"].startswith("reason-copy/") for t in copied)
    assert len(clean.rows("user_results", "run = 'reason'")) == len(clean.rows("user_results", "run = 'reason-copy'")) > 0


def test_search_continues_in_the_generation_cache(thinker):
    """`ReasoningPrefill` gives the reasonings `generate_reasoning` gives, and the search from its
    cache ranks what the search from re-prefilled prompt + reasoning ranks, with the same scores
    (closed reasonings, and ones cut by the budget and closed by us)."""
    from core.eval.traces import ReasoningPrefill

    model, tokenizer, prompts = thinker
    trie = SidTrie(SIDMAP, tokenizer)
    exclude = [set(ex.history) for ex in EXAMPLES]
    for budget in (256, 5):
        pairs = generate_reasoning(model, tokenizer, prompts, max_new_tokens=budget, batch_size=2)
        prefill = ReasoningPrefill(model, tokenizer, max_new_tokens=budget)
        cached = constrained_topk(model, tokenizer, trie, prompts, k=4, num_beams=4, exclude=exclude, batch_size=2,
                                  prefill=prefill)
        assert prefill.pairs == pairs
        again = constrained_topk(model, tokenizer, trie, [p + r for p, (r, _) in zip(prompts, pairs)], k=4,
                                 num_beams=4, exclude=exclude)
        for mine, theirs in zip(cached, again):
            assert [r.item_id for r in mine] == [r.item_id for r in theirs]
            assert [r.score for r in mine] == pytest.approx([r.score for r in theirs], abs=1e-3)


def test_reflag_rechecks_stored_traces_with_todays_checker(tmp_path, monkeypatch, capsys):
    """`eval --reflag`: the traces a checkpoint shipped with, flagged by an older (here: blind) checker,
    get today's flags in the store, the traces file and metrics.json; the other metrics stay."""
    import json

    from core.atomic import read_jsonl, write_jsonl
    from core.cli import main
    from core.data.registry import load_dataset
    from core.data.split import Split
    from core.decode.results import Recommendation
    from core.eval.faithfulness import FaithfulnessChecker, flag_rates
    from core.llm.adapter import META_FILE
    from core.runs import card
    from core.sid.build import sidmap_path

    monkeypatch.setenv("SIDLENS_CHECKPOINTS", str(tmp_path / "checkpoints"))
    dataset = load_dataset("ml-100k")
    ordered = sorted(dataset.items, key=int)
    sidmap = SidMap("ml-100k", "hand", [16, 16, 8], {i: (n % 16, n // 16 % 16, n // 256) for n, i in enumerate(ordered)})
    sidmap.save(sidmap_path("ml-100k"))
    folder = tmp_path / "checkpoints" / "reason"
    folder.mkdir(parents=True)
    (folder / META_FILE).write_text(json.dumps({"run": "reason", "stage": "reason", "think": True}))
    card.write_run(folder, {"run": "reason", "stage": "reason", "dataset": "ml-100k", "command": "test"})
    examples = Split(dataset).examples("test")[:3]
    first = dataset.items[examples[0].history[-1]]
    reasonings = ["<think>\nThey watched Toy Story (1995).\n</think>",  # flagged wherever item 1 is not in the history
                  f"<think>\nThey watched {first.dated_title} {sidmap.sid_text(first.item_id)}.\n</think>",
                  "<think>\nThey watched <a_15><b_15><c_7>.\n</think>"]  # a SID that is no item
    recs = [[Recommendation(item_id=ordered[n], sid=sidmap.sid_text(ordered[n]), score=0.0,
                                  level_probs=[1.0, 1.0, 1.0])] for n in range(3)]
    scratch = Store(tmp_path / "scratch.db")
    save_traces(scratch, "reason", "test", examples, ["p"] * 3, reasonings, recs, dataset, sidmap, folder=folder)
    stale = [{**row, "flags": {}} for row in read_jsonl(folder / "traces.jsonl")]  # what an older checker said
    write_jsonl(folder / "traces.jsonl", stale)
    card.add_metrics(folder, "test@3", {"hr@10": 0.25, "flag_any": 0.0}, 3, 1.0)

    store = Store()  # empty: the run registers from its folder, as on a clean clone
    assert main(["eval", "--run", "reason", "--reflag", "--users", "3", "--json"]) == 0
    checker = FaithfulnessChecker(dataset, sidmap)
    expected = [checker.flags(r, ex.history, answer=rec[0].item_id) for r, ex, rec in zip(reasonings, examples, recs)]
    rates = flag_rates(expected)
    assert rates["flag_unknown_sid"] > 0 and json.loads(capsys.readouterr().out)["flag_any"] == rates["flag_any"]
    assert [t["flags"] for t in load_traces(store, "reason")] == expected
    assert [row["flags"] for row in read_jsonl(folder / "traces.jsonl")] == expected
    assert card.read_metrics(folder)["test@3"] == {"hr@10": 0.25, **rates, "users": 3, "seconds": 1.0}
    assert store.metrics("reason", "test@3")["flag_any"] == rates["flag_any"]
    # bad input: more users than have traces, a split never evaluated
    assert main(["eval", "--run", "reason", "--reflag", "--users", "5"]) == 2
    assert "2 of the 5 users of test@5 have no stored trace" in capsys.readouterr().err
    assert main(["eval", "--run", "reason", "--reflag", "--split", "valid"]) == 2
    assert "no stored traces on 'valid'" in capsys.readouterr().err
