"""Tasks 1-4: predicting and translating SIDs (no teacher needed).

(1) SID history -> next SID: the recommendation task itself. Its main phrasing is the canonical
    prompt of `core.llm.prompts.recommendation_messages` (drawn most of the time, so training
    matches evaluation exactly); the other phrasings are variants, as in LC-Rec/MiniOneRec.
(2) title -> SID and SID -> title: one unit per item and direction.
(3) SID history -> the next item's title.
(4) title history -> the next item's SID.
(8) pick from a candidate list: the canonical history, then 20 candidates by SID and title (the
    target and 19 items the user never interacted with, `core.eval.candidates.candidates_for`),
    answered with the target's SID: the prompt of the 20-candidate protocol (LLaRA, S-DPO), which
    `eval --prompted-candidates` asks and `train dpo/sdpo --protocol candidates` trains on.
Tasks 1, 3, 4 and 8 draw from the training examples of the split (every prefix of each user's
training items), so no validation or test target is ever a completion.
"""
from __future__ import annotations

from core.corpus.context import CorpusContext
from core.corpus.records import TaskSpec, choose, choose_for_user, fill, numbered, record, sid_inline, sid_lines
from core.llm.prompts import candidate_messages, recommendation_messages

NEXT_SID = [
    ("canonical", 6.0),
    ("canonical+profile", 1.0),
    ("Here is a user's history as Semantic IDs, oldest first: {inline}. Which {noun} comes next? "
     "Answer with its Semantic ID.", 1.0),
    ("A user interacted with these {noun}s, in order:\n{numbered}\nWhat is the Semantic ID of the next one?", 1.0),
    ("History:\n{lines}\nNext {noun}:", 1.0),
]
TITLE_TO_SID = [
    ("What is the Semantic ID of the {noun} \"{title}\"?", 1.0),
    ("{title}: give its Semantic ID.", 1.0),
    ("Which Semantic ID identifies {title}?", 1.0),
    ("The {noun} {title} ({genres}). Write its Semantic ID.", 1.0),
]
SID_TO_TITLE = [
    ("Which {noun} has the Semantic ID {sid}?", 1.0),
    ("What is the title of {sid}?", 1.0),
    ("Name the {noun} behind {sid}.", 1.0),
]
NEXT_TITLE = [
    ("The user interacted with these {noun}s, oldest first:\n{lines}\nWhat is the title of the next {noun} "
     "the user will interact with?", 2.0),
    ("History as Semantic IDs: {inline}. Name the {noun} this user will pick next.", 1.0),
    ("Watched so far:\n{numbered}\nWhich {noun} comes next? Answer with its title.", 1.0),
]
TITLES_TO_SID = [
    ("The user interacted with these {noun}s, oldest first:\n{titles}\nPredict the Semantic ID of the next {noun} "
     "the user will interact with.", 2.0),
    ("A user watched {inline_titles}. Which Semantic ID comes next?", 1.0),
    ("User profile: {profile}.\nTheir {noun}s so far:\n{titles}\nGive the Semantic ID of their next {noun}.", 1.0),
]

# task 8: the history as SIDs (the evaluation's prompt) most of the time, sometimes with titles
PICK_STYLES = [("sid", 3.0), ("title", 1.0)]


def next_sid(ctx: CorpusContext, teacher, example, rng) -> dict:
    index, template = choose(rng, NEXT_SID)
    history = list(example.history)
    if template.startswith("canonical"):
        profile = ctx.profile(example.user_id) if template.endswith("profile") else None
        prompt, _ = recommendation_messages(ctx.sidmap, ctx.dataset, history, profile=profile, window=ctx.window)
    else:
        prompt = fill(template, ctx, inline=sid_inline(ctx, history), lines=sid_lines(ctx, history),
                      numbered=numbered([ctx.sid(i) for i in history]))
    return record(1, index, prompt, ctx.sid(example.target), ctx, example.user_id, example.target)


def title_sid(ctx: CorpusContext, teacher, unit, rng) -> dict:
    item_id, direction = unit
    item = ctx.dataset.items[item_id]
    fields = {"title": ctx.title(item_id), "sid": ctx.sid(item_id), "genres": ", ".join(item.genres) or "no genre"}
    if direction == "title->sid":
        index, template = choose(rng, TITLE_TO_SID)
        return record(2, index, fill(template, ctx, **fields), fields["sid"], ctx, item_id=item_id)
    index, template = choose(rng, SID_TO_TITLE)
    return record(2, len(TITLE_TO_SID) + index, fill(template, ctx, **fields), fields["title"], ctx, item_id=item_id)


def next_title(ctx: CorpusContext, teacher, example, rng) -> dict:
    index, template = choose(rng, NEXT_TITLE)
    history = list(example.history)
    prompt = fill(template, ctx, inline=sid_inline(ctx, history), lines=sid_lines(ctx, history),
                  numbered=numbered([ctx.sid(i) for i in history]))
    return record(3, index, prompt, ctx.title(example.target), ctx, example.user_id, example.target)


def titles_to_sid(ctx: CorpusContext, teacher, example, rng) -> dict:
    index, template = choose_for_user(ctx, TITLES_TO_SID, example.user_id, rng)
    titles = [ctx.title(i) for i in example.history]
    prompt = fill(template, ctx, titles="\n".join(titles), inline_titles="; ".join(titles),
                  profile=ctx.profile(example.user_id))
    return record(4, index, prompt, ctx.sid(example.target), ctx, example.user_id, example.target)


def _item_directions(ctx: CorpusContext):
    return [(item_id, d) for item_id in ctx.catalogue for d in ("title->sid", "sid->title")]


def pick_candidate(ctx: CorpusContext, teacher, example, rng) -> dict:
    from core.eval.candidates import N_CANDIDATES, candidates_for

    index, style = choose(rng, PICK_STYLES)
    candidates = candidates_for(ctx.split, example.user_id, example.target, N_CANDIDATES, f"corpus:{rng.getrandbits(64)}",
                                shrink=True)
    prompt, _ = candidate_messages(ctx.sidmap, ctx.dataset, list(example.history), candidates, window=ctx.window,
                                   style=style)
    return record(8, index, prompt, ctx.sid(example.target), ctx, example.user_id, example.target)


SID_TASKS = [
    TaskSpec(1, "SID history -> next SID", lambda ctx: ctx.train_examples, next_sid),
    TaskSpec(2, "title <-> SID", _item_directions, title_sid),
    TaskSpec(3, "SID history -> next title", lambda ctx: ctx.train_examples, next_title),
    TaskSpec(4, "title history -> next SID", lambda ctx: ctx.train_examples, titles_to_sid),
    TaskSpec(8, "pick the next item from 20 candidates", lambda ctx: ctx.train_examples, pick_candidate),
]
