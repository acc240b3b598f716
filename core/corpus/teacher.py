"""The teacher interface: who writes the natural-language parts of the corpus.

The SID-Reasoning paper has a strong LLM write item descriptions, user-history narratives and
reasoning traces. Here a teacher is anything with the four methods below; every method receives
the shared `CorpusContext` (training-only facts) and returns plain text in which items are
written as `Title (year) <a_..><b_..><c_..>`, so the student sees SIDs inside language.

- `MetadataTeacher` (default, offline, deterministic) writes them from the metadata alone.
- `OpenAICompatibleTeacher` asks any /v1/chat/completions endpoint, with every answer cached in
  the store, so re-building a corpus costs no request.

`reasoning_trace` is used by the reasoning-activation stage (issue 4): the text that goes between
`<think>` and `</think>` for a training example whose next item is `target`.
"""
from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from core.corpus.context import CorpusContext
from core.errors import SidLensError

TEACHERS = ("metadata", "openai")


@runtime_checkable
class Teacher(Protocol):
    name: str

    def item_narrative(self, item_id: str, context: CorpusContext) -> str:
        """A short description of one item with its SID interleaved."""

    def user_narrative(self, user_id: str, history: Sequence[str], context: CorpusContext) -> str:
        """A narrative of a stretch of a user's (training) history, items written with their SIDs."""

    def preference_summary(self, user_id: str, history: Sequence[str], context: CorpusContext) -> str:
        """A compact summary of what the user likes, given their profile and history."""

    def reasoning_trace(self, user_id: str, history: Sequence[str], target: str, context: CorpusContext) -> str:
        """Reasoning from the history to the next item `target`: checkable claims about the history
        (`core.eval.faithfulness`), ending in the kind of item that comes next."""


def make_teacher(name: str = "metadata", **options) -> Teacher:
    """Build a teacher by name; `options` go to the OpenAI-compatible teacher (base_url, model, ...)."""
    if name == "metadata":
        from core.corpus.metadata_teacher import MetadataTeacher
        return MetadataTeacher()
    if name == "openai":
        from core.corpus.openai_teacher import OpenAICompatibleTeacher
        if not options.get("base_url") or not options.get("model"):
            raise SidLensError("the openai teacher needs --base-url and --model")
        return OpenAICompatibleTeacher(**options)
    raise SidLensError(f"unknown teacher {name!r} (choose from: {', '.join(TEACHERS)})")
