"""A teacher behind any OpenAI-compatible /v1/chat/completions endpoint (OpenAI, vLLM, llama.cpp
server, Ollama, ...), as the SID-Reasoning paper uses a strong LLM to write its corpus.

It rewrites the MetadataTeacher's draft: the draft carries every checkable fact (and the SIDs), the
LLM turns it into fluent text and is told to copy SIDs verbatim; an item narrative that comes back
without the item's SID gets it prepended, so task 5 always interleaves it.

- The API key is read from an environment variable (default SIDLENS_TEACHER_API_KEY) when the
  teacher is built; it is never logged, never stored and not part of the cache key.
- Retries 429, 5xx and connection errors with exponential backoff (bounded attempts; a numeric
  Retry-After is honoured up to `max_backoff_s`); other HTTP errors fail at once with one line.
- Every answer is cached in the store's `teacher_cache` table under sha256(model + request), so
  re-building a corpus sends no request at all.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Sequence

import requests

from core.corpus.context import CorpusContext
from core.corpus.metadata_teacher import MetadataTeacher
from core.errors import SidLensError
from core.store import Store, now

SYSTEM = ("You write short, factual texts for a recommender system's training corpus. Items are written as "
          "'Title (year) <a_..><b_..><c_..>': the bracketed tokens are the item's Semantic ID. Copy every Semantic "
          "ID exactly as given, right after the title it belongs to, and never invent one. Use only the facts "
          "given. Answer with the text only.")
ASKS = {
    "item": "Rewrite these facts as a fluent description of the item, 2-4 sentences, starting with its Semantic ID:",
    "user": "Rewrite these facts as a fluent narrative of the user's viewing history, mentioning each item with "
            "its Semantic ID, in order:",
    "summary": "Rewrite these facts as a compact summary (2-3 sentences) of the user's preferences:",
    "reasoning": "Rewrite this as brief reasoning (at most 3 sentences, under 100 words) about the user's history. "
                 "Keep every item exactly as 'Title (year) <sid>', name one item per sentence with its genres "
                 "copied as given, name no item that is not given, and keep the last sentence's prediction as "
                 "general as the draft's (one genre, a decade only if the draft has one), without naming an item:",
}
RETRY_STATUS = {429, 500, 502, 503, 504}


class OpenAICompatibleTeacher:
    name = "openai"

    def __init__(self, base_url: str, model: str, api_key_env: str = "SIDLENS_TEACHER_API_KEY", *,
                 store: Store | None = None, temperature: float = 0.7, max_tokens: int = 400,
                 max_attempts: int = 5, backoff_s: float = 1.0, max_backoff_s: float = 30.0, timeout_s: float = 60.0):
        self._key = os.environ.get(api_key_env, "")
        if not self._key:
            raise SidLensError(f"environment variable {api_key_env} is not set: the openai teacher needs an API key "
                               "(any non-empty value for a local server without authentication)")
        self.url = base_url.rstrip("/").removesuffix("/v1") + "/v1/chat/completions"
        self.model, self.temperature, self.max_tokens = model, temperature, max_tokens
        self.max_attempts, self.backoff_s, self.max_backoff_s, self.timeout_s = (
            max(1, max_attempts), backoff_s, max_backoff_s, timeout_s)
        self.store = store if store is not None else Store()
        self.draft = MetadataTeacher()
        self.requests_sent = 0

    # -- the teacher interface ----------------------------------------------------------------------
    def item_narrative(self, item_id: str, context: CorpusContext) -> str:
        text = self._rewrite("item", self.draft.item_narrative(item_id, context))
        sid = context.sid(item_id)
        return text if sid in text else f"{sid} {text}"

    def user_narrative(self, user_id: str, history: Sequence[str], context: CorpusContext) -> str:
        return self._rewrite("user", self.draft.user_narrative(user_id, history, context))

    def preference_summary(self, user_id: str, history: Sequence[str], context: CorpusContext) -> str:
        return self._rewrite("summary", self.draft.preference_summary(user_id, history, context))

    def reasoning_trace(self, user_id: str, history: Sequence[str], target: str, context: CorpusContext) -> str:
        return self._rewrite("reasoning", self.draft.reasoning_trace(user_id, history, target, context))

    # -- HTTP with cache ----------------------------------------------------------------------------
    def _rewrite(self, kind: str, draft: str) -> str:
        return self.complete([{"role": "system", "content": SYSTEM},
                              {"role": "user", "content": f"{ASKS[kind]}\n\n{draft}"}])

    def complete(self, messages: list[dict]) -> str:
        """The assistant's answer to `messages`, from the cache when this exact request was made before."""
        request = {"model": self.model, "messages": messages, "temperature": self.temperature,
                   "max_tokens": self.max_tokens}
        key = hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        cached = self.store.get("teacher_cache", key)
        if cached is not None:
            return cached["response"]
        text = self._post(request)
        self.store.upsert("teacher_cache", {"key": key, "model": self.model, "request": request, "response": text,
                                            "created": now()})
        return text

    def _post(self, request: dict) -> str:
        headers = {"Authorization": f"Bearer {self._key}", "Content-Type": "application/json"}
        problem = ""
        for attempt in range(self.max_attempts):
            if attempt:
                time.sleep(min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1)))
            self.requests_sent += 1
            try:
                response = requests.post(self.url, json=request, headers=headers, timeout=self.timeout_s)
            except requests.RequestException as exc:
                problem = f"cannot reach {self.url} ({type(exc).__name__})"
                continue
            if response.status_code in RETRY_STATUS:
                problem = f"HTTP {response.status_code} from {self.url}"
                retry_after = response.headers.get("Retry-After", "")
                if retry_after.isdigit():
                    time.sleep(min(self.max_backoff_s, float(retry_after)))
                continue
            if response.status_code != 200:
                raise SidLensError(f"teacher request failed: HTTP {response.status_code} from {self.url}")
            try:
                return response.json()["choices"][0]["message"]["content"].strip()
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                raise SidLensError(f"teacher at {self.url} returned an answer without choices[0].message.content") from None
        raise SidLensError(f"teacher request failed after {self.max_attempts} attempts: {problem}")
