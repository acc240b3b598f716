"""The shape of one corpus record and what every task generator shares.

A record is TRL's conversational prompt-completion format, so SFTTrainer applies the model's chat
template and computes the loss on the completion only:
  {"prompt": [{"role": "system", ...}, {"role": "user", ...}],
   "completion": [{"role": "assistant", "content": ...}],
   "task": 1..7, "template": index of the phrasing, "user_id": str | None, "item_id": str | None}
`item_id` is the item the completion is about (the target for tasks 1, 3, 4); `user_id` is the
user whose training history the record uses. Every prompt carries the canonical system prompt of
`core.llm.prompts`, so the model meets SIDs under one instruction across tasks.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from core.corpus.context import CorpusContext
from core.corpus.teacher import Teacher
from core.errors import SidLensError
from core.llm.prompts import SYSTEM_PROMPT, item_noun

Render = Callable[[CorpusContext, Teacher, Any, random.Random], dict]


def parse_task_values(text: str | None, cast: Callable = float, flag: str = "--weights") -> dict[int, Any]:
    """'1=0.5,7=0' -> {1: 0.5, 7: 0.0}: a value per corpus task, as `corpus build --weights` and
    `train sft --task-examples` write them; a malformed entry is a one-line error naming `flag`."""
    out = {}
    for part in filter(None, (text or "").replace(" ", "").split(",")):
        task, _, value = part.partition("=")
        try:
            out[int(task)] = cast(value)
        except ValueError:
            raise SidLensError(f"bad {flag} entry {part!r}: write TASK=VALUE, e.g. 1=0.5,8=2500") from None
    return out


@dataclass(frozen=True)
class TaskSpec:
    """One alignment task: its pool of units (examples, items, users) and how a unit becomes a record."""

    number: int
    name: str
    units: Callable[[CorpusContext], Sequence]
    render: Render


def choose(rng: random.Random, templates: Sequence[tuple[str, float]]) -> tuple[int, str]:
    """(index, text) of a phrasing drawn by its weight."""
    index = rng.choices(range(len(templates)), weights=[w for _, w in templates])[0]
    return index, templates[index][0]


def choose_for_user(context: CorpusContext, templates: Sequence[tuple[str, float]], user_id: str,
                    rng: random.Random) -> tuple[int, str]:
    """A phrasing for a user's record; those that mention the profile are skipped when it is unknown."""
    index, template = choose(rng, templates)
    if "{profile}" in template and not context.profile(user_id):
        index, template = next((i, t) for i, (t, _) in enumerate(templates) if "{profile}" not in t)
    return index, template


def fill(template: str, context: CorpusContext, **fields) -> str:
    """A phrasing with `{noun}` (what the dataset calls an item) and the given fields filled in."""
    return template.format(noun=item_noun(context.dataset), **fields)


def system_message(context: CorpusContext) -> dict:
    return {"role": "system", "content": SYSTEM_PROMPT.format(noun=item_noun(context.dataset))}


def record(task: int, template: int, user_text: str | list[dict], completion: str, context: CorpusContext,
           user_id: str | None = None, item_id: str | None = None) -> dict:
    """A record; `user_text` is the user turn, or full prompt messages (the canonical prompt)."""
    prompt = user_text if isinstance(user_text, list) else [system_message(context),
                                                             {"role": "user", "content": user_text}]
    return {"prompt": prompt, "completion": [{"role": "assistant", "content": completion}], "task": task,
            "template": template, "user_id": user_id, "item_id": item_id}


def sid_lines(context: CorpusContext, items: Sequence[str]) -> str:
    return "\n".join(context.sid(i) for i in items)


def sid_inline(context: CorpusContext, items: Sequence[str]) -> str:
    return ", ".join(context.sid(i) for i in items)


def numbered(texts: Sequence[str]) -> str:
    return "\n".join(f"{n}. {t}" for n, t in enumerate(texts, 1))


def training_chunks(context: CorpusContext) -> list[tuple[str, tuple[str, ...]]]:
    """(user, consecutive training items) windows of at most `window` items, at least 2 each."""
    out = []
    for user_id in context.dataset.sequences:
        items = context.split.train_items(user_id)
        out.extend((user_id, tuple(items[i:i + context.window])) for i in range(0, len(items), context.window)
                   if len(items[i:i + context.window]) >= 2)
    return out
