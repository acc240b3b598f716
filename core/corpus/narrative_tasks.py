"""Tasks 5-7: language about items and users, written by the teacher, with SIDs interleaved.

(5) Item narratives: a short prompt (sometimes naming the item by SID or title, sometimes not at
    all) and the teacher's narrative as the completion, so the loss is essentially
    language-model loss on text where the SID sits next to the facts about its item.
(6) User-history narratives: one unit per window of a user's training items; the narrative walks
    through the items in order, each written with its SID.
(7) Profile + history -> preference summary (optional in the paper; weight 0 turns it off).
Users' units use training items only (`records.training_chunks`).
"""
from __future__ import annotations

from core.corpus.context import CorpusContext
from core.corpus.records import TaskSpec, choose, choose_for_user, fill, record, sid_lines, training_chunks

ITEM_PROMPTS = [
    ("Describe the {noun} {sid}.", 2.0),
    ("Tell me about {title}.", 1.0),
    ("What do you know about {sid}?", 1.0),
    ("Write a short note about a {noun} in the catalogue.", 1.0),
]
USER_PROMPTS = [
    ("Describe this user's viewing history.", 1.0),
    ("Tell the story of a user's recent {noun}s, naming each by title and Semantic ID.", 1.0),
    ("User profile: {profile}. Narrate what they watched.", 1.0),
]
SUMMARY_PROMPTS = [
    ("User profile: {profile}.\nThe user interacted with these {noun}s, oldest first:\n{lines}\n"
     "Summarise the user's preferences.", 2.0),
    ("{lines}\nWhat does this history say about the user's taste?", 1.0),
]


def item_narrative(ctx: CorpusContext, teacher, item_id, rng) -> dict:
    index, template = choose(rng, ITEM_PROMPTS)
    prompt = fill(template, ctx, sid=ctx.sid(item_id), title=ctx.title(item_id))
    return record(5, index, prompt, teacher.item_narrative(item_id, ctx), ctx, item_id=item_id)


def user_narrative(ctx: CorpusContext, teacher, unit, rng) -> dict:
    user_id, items = unit
    index, template = choose_for_user(ctx, USER_PROMPTS, user_id, rng)
    prompt = fill(template, ctx, profile=ctx.profile(user_id))
    return record(6, index, prompt, teacher.user_narrative(user_id, list(items), ctx), ctx, user_id=user_id)


def preference_summary(ctx: CorpusContext, teacher, unit, rng) -> dict:
    user_id, items = unit
    index, template = choose_for_user(ctx, SUMMARY_PROMPTS, user_id, rng)
    prompt = fill(template, ctx, profile=ctx.profile(user_id), lines=sid_lines(ctx, items))
    return record(7, index, prompt, teacher.preference_summary(user_id, list(items), ctx), ctx, user_id=user_id)


NARRATIVE_TASKS = [
    TaskSpec(5, "item narrative", lambda ctx: ctx.catalogue, item_narrative),
    TaskSpec(6, "user-history narrative", training_chunks, user_narrative),
    TaskSpec(7, "preference summary", training_chunks, preference_summary),
]
