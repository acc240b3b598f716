"""Every task turns its units into well-formed conversational records with the right SIDs."""
from __future__ import annotations

import random

import pytest

from core.corpus.build import TASKS
from core.corpus.metadata_teacher import MetadataTeacher
from core.corpus.records import training_chunks
from core.llm.prompts import recommendation_messages


def _records(ctx, number: int, limit: int = 200) -> list[tuple[object, dict]]:
    rng = random.Random(number)
    units = list(TASKS[number].units(ctx))[:limit]
    return [(unit, TASKS[number].render(ctx, MetadataTeacher(), unit, rng)) for unit in units]


@pytest.mark.parametrize("number", sorted(TASKS))
def test_records_are_trl_conversational_prompt_completion(tiny_context, number):
    pairs = _records(tiny_context, number)
    assert pairs
    for _, rec in pairs:
        assert rec["task"] == number
        assert [m["role"] for m in rec["prompt"]] == ["system", "user"]
        assert [m["role"] for m in rec["completion"]] == ["assistant"]
        assert all(isinstance(m["content"], str) and m["content"].strip() for m in rec["prompt"] + rec["completion"])
        assert "{" not in rec["prompt"][1]["content"]         # every template field was filled
    assert len({rec["template"] for _, rec in pairs}) >= 2    # several phrasings are used


def test_next_sid_completion_is_target_sid_and_canonical_prompt_dominates(tiny_context):
    pairs = _records(tiny_context, 1)
    for example, rec in pairs:
        assert rec["completion"][0]["content"] == tiny_context.sid(example.target)
        assert rec["item_id"] == example.target and rec["user_id"] == example.user_id
        text = rec["prompt"][1]["content"]
        assert all(tiny_context.sid(i) in text for i in example.history)
        if rec["template"] == 0:
            assert rec["prompt"] == recommendation_messages(tiny_context.sidmap, tiny_context.dataset,
                                                            list(example.history))[0]
    assert sum(rec["template"] == 0 for _, rec in pairs) > len(pairs) / 3


def test_title_sid_both_directions(tiny_context):
    directions = set()
    for (item_id, direction), rec in _records(tiny_context, 2):
        directions.add(direction)
        prompt, completion = rec["prompt"][1]["content"], rec["completion"][0]["content"]
        if direction == "title->sid":
            assert completion == tiny_context.sidmap.sid_text(item_id)
            assert tiny_context.title(item_id) in prompt
        else:
            assert completion == tiny_context.title(item_id)
            assert tiny_context.sid(item_id) in prompt
    assert directions == {"title->sid", "sid->title"}


def test_history_to_title_and_titles_to_sid(tiny_context):
    for example, rec in _records(tiny_context, 3):
        assert rec["completion"][0]["content"] == tiny_context.title(example.target)
        assert all(tiny_context.sid(i) in rec["prompt"][1]["content"] for i in example.history)
    for example, rec in _records(tiny_context, 4):
        assert rec["completion"][0]["content"] == tiny_context.sid(example.target)
        assert all(tiny_context.title(i) in rec["prompt"][1]["content"] for i in example.history)
        assert "<a_" not in rec["prompt"][1]["content"]


def test_narrative_tasks_interleave_the_right_sids(tiny_context):
    for item_id, rec in _records(tiny_context, 5):
        assert rec["completion"][0]["content"].count(tiny_context.sid(item_id)) >= 1
        assert len(rec["prompt"][1]["content"]) < 120         # short prompt: the loss is on the narrative
    for (user_id, items), rec in _records(tiny_context, 6):
        assert all(tiny_context.sid(i) in rec["completion"][0]["content"] for i in items)
        assert rec["user_id"] == user_id
    for (user_id, items), rec in _records(tiny_context, 7):
        assert all(tiny_context.sid(i) in rec["prompt"][1]["content"] for i in items)


def test_training_chunks_cover_training_items_only(tiny_context):
    chunks = training_chunks(tiny_context)
    for user_id in tiny_context.dataset.sequences:
        covered = [i for u, items in chunks if u == user_id for i in items]
        train = tiny_context.split.train_items(user_id)
        assert covered == train[:len(covered)] and len(train) - len(covered) <= 1
        assert all(len(items) <= tiny_context.window for u, items in chunks if u == user_id)


def test_records_render_through_the_real_chat_template_as_prompt_then_completion(tiny_context):
    """What TRL's completion-only loss relies on: prompt + completion renders as the prompt with the
    generation prompt, followed by the completion and the end of turn."""
    from transformers import AutoTokenizer

    from core.llm.backbone import resolve_base

    source, local_only = resolve_base(None)
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
    for number in sorted(TASKS):
        _, rec = _records(tiny_context, number, limit=1)[0]
        prompt = tokenizer.apply_chat_template(rec["prompt"], tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(rec["prompt"] + rec["completion"], tokenize=False)
        assert full.startswith(prompt)
        assert full[len(prompt):].startswith(rec["completion"][0]["content"] + tokenizer.eos_token)


def test_pick_from_candidates_lists_the_target_among_unseen_items(tiny_context):
    from core.decode.stream import split_sid_chunks

    pairs = _records(tiny_context, 8)
    for example, rec in pairs:
        assert rec["completion"][0]["content"] == tiny_context.sid(example.target)
        listed = rec["prompt"][1]["content"].split("Candidate ")[1]
        candidates = [i for kind, _, i in split_sid_chunks(listed, tiny_context.sidmap) if kind == "sid"]
        seen = {x.item_id for x in tiny_context.dataset.sequences[example.user_id]}
        unseen = len(tiny_context.dataset.items) - len(seen)
        assert len(candidates) == min(20, 1 + unseen) and example.target in candidates  # the tiny catalogue is small
        assert not (set(candidates) - {example.target}) & seen
