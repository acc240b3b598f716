"""The canonical recommendation prompt, shared by the corpus, training, decoding and evaluation.

One prompt everywhere matters: a model trained on one wording and evaluated on another loses
accuracy for reasons that have nothing to do with recommendation. The history is the user's last
`window` items, oldest first, each written as its SID (or, for the reasoning variants, with its
title, year and genres, and optionally a line of genre and decade counts: HISTORY_STYLES); the user
turn asks for the next item's SID, and the answer (the assistant turn) is the SID alone, e.g.
`<a_12><b_3><c_45>`. Items are separated by a newline: an added token after a space costs an extra
lone-space token with this tokenizer, a newline costs one token and reads naturally.

Truncation is reported, not hidden: `recommendation_messages` returns `(messages, notes)`, where
`notes` holds one line per adjustment (e.g. "history of 35 items truncated to the last 20"), so the
CLI can print it and the app can show it next to the prompt.

Differences from the papers: MiniOneRec/LC-Rec write histories as comma-separated SIDs with many
instruction phrasings; here the recommendation prompt is one fixed wording (the alignment corpus
adds other phrasings for the other tasks) so that evaluation matches training exactly.

`candidate_messages` is the same prompt with a list of candidate items (SID and title) appended
and an instruction to pick one: the prompted variant of the 20-candidate protocol (S-DPO, LLaRA),
which `python -m core eval --prompted-candidates` scores.
"""
from __future__ import annotations

import re
from typing import Sequence

from core.data.schema import Dataset
from core.data.split import DEFAULT_WINDOW
from core.errors import SidLensError
from core.sid.sidmap import SidMap

# The think protocol, one home: reasoning variants write THINK_START ... THINK_END, then the SID
# right after THINK_END (where the constrained search, the reward and the app continue); the
# evaluation stops reasoning at MAX_REASONING_TOKENS and closes it when the model did not.
THINK_START, THINK_END = "<think>", "</think>"
MAX_REASONING_TOKENS = 256
SYSTEM_PROMPT = (
    "You are a recommender system. Every {noun} is written as a Semantic ID: one token per level, "
    "such as <a_12><b_3><c_45>; {noun}s with similar content share the leading tokens."
)


PREDICT_INSTRUCTION = "Predict the Semantic ID of the next {noun} the user will interact with."
THINK_INSTRUCTION = ("Think about the user's tastes inside <think></think> first, then write the Semantic ID of "
                     "the next {noun} the user will interact with.")
CANDIDATES_HEADER = "Candidate {noun}s:"  # opens the candidate block of `candidate_messages`
CANDIDATES_LINE = re.compile("^" + re.escape(CANDIDATES_HEADER).replace(re.escape("{noun}"), r"\w+") + "$", re.M)
PICK_INSTRUCTION = "Answer with the Semantic ID of the one candidate {noun} the user will interact with next."
PICK_THINK_INSTRUCTION = ("Think about the user's tastes inside <think></think> first, then write the Semantic ID of "
                          "the one candidate {noun} the user will interact with next.")


def item_noun(dataset: Dataset | None) -> str:
    """What an item is called in prompts ("movie" for MovieLens; `dataset.meta["item_noun"]`)."""
    return (dataset.meta.get("item_noun") if dataset is not None else None) or "item"


def check_history(sidmap: SidMap, history_item_ids: Sequence[str]) -> list[str]:
    """History ids as strings; SidLensError when empty or when some items have no SID."""
    history = [str(i) for i in history_item_ids]
    if not history:
        raise SidLensError("empty history: a recommendation needs at least one item the user interacted with")
    unknown = list(dict.fromkeys(i for i in history if i not in sidmap.codes))
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise SidLensError(f"unknown item ids in history for dataset {sidmap.dataset}: {shown}")
    return history


# How a prompt writes each history item (a checkpoint's meta records it as "history"):
HISTORY_STYLES = {
    "sid": "the SID alone (the papers' prompt)",
    "title": "the SID, then the title",
    "facts": "the title with its year, the SID, then the genres (what a reasoning trace states about an item)",
    "summary": "facts, then one line of counts over the shown items: the most common genres and decade (what a "
               "trace states about the whole history, so the student copies it instead of counting)",
}
SUMMARY_GENRES = 3  # genres the summary line lists (the teacher's claims name at most the top two)


def history_style(meta: dict) -> str:
    """The history style of a checkpoint's meta ("history"; checkpoints written before it record only a
    boolean "titles")."""
    style = meta.get("history") or ("title" if meta.get("titles") else "sid")
    if style not in HISTORY_STYLES:
        raise SidLensError(f"unknown history style {style!r} in the checkpoint meta (one of {', '.join(HISTORY_STYLES)})")
    return style


def history_window(meta: dict) -> int:
    """How many of the latest history items a checkpoint's prompts show (its meta's "window"; checkpoints
    written before it was recorded used DEFAULT_WINDOW)."""
    window = meta.get("window", DEFAULT_WINDOW)
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise SidLensError(f"the checkpoint meta's window must be a positive integer, not {window!r}")
    return window


def history_block(sidmap: SidMap, dataset: Dataset | None, history_item_ids: Sequence[str],
                  style: str = "sid") -> str:
    """One line per item, oldest first, written in `style` (HISTORY_STYLES): e.g. "sid"
    `<a_3><b_0><c_3>`, "title" `<a_3><b_0><c_3> Heat`, "facts" `Heat (1995) <a_3><b_0><c_3>: Action, Crime`
    (title then SID, as the teacher's traces name items, so the student copies rather than recalls);
    "summary" is "facts" followed by `history_summary`'s line."""
    history = check_history(sidmap, history_item_ids)
    if style not in HISTORY_STYLES:
        raise ValueError(f"unknown history style {style!r}")
    if style != "sid" and dataset is None:
        raise ValueError("titled history styles need the dataset for item titles")
    lines = []
    for item_id in history:
        sid = sidmap.sid_text(item_id)
        item = dataset.items.get(item_id) if dataset is not None else None
        if item is None or style == "sid":
            lines.append(sid)
        elif style == "title":
            lines.append(f"{sid} {item.title}")
        else:
            lines.append(f"{item.dated_title} {sid}" + (f": {', '.join(item.genres)}" if item.genres else ""))
    if style == "summary" and (summary := history_summary(dataset, history)):
        lines.append(summary)
    return "\n".join(lines)


def history_summary(dataset: Dataset, history: Sequence[str]) -> str:
    """One line of counts over `history` (the items a prompt shows), e.g. "Most common genres: Drama (9),
    Comedy (7), Romance (5). Most common decade: the 1990s (17 of 20)." ('' when the items have neither
    genres nor years).

    Why: the teacher's claims about the whole history ("Drama recurs most", "their taste leans to A and B",
    "the decade they watch most") are counts over 20 items, and a 135M student that copies item lines
    faithfully gets those counts wrong (35% of the facts-prompt reason's 943 test traces carried such a
    flag, against 7% for every other flag together). Written here, the counts are something the student
    reads, as it reads each item's genres; the order is `Dataset.ranked_genres`'s, by count then name, the
    order the teacher and the faithfulness checker break ties in."""
    top, decades = dataset.ranked_genres(history)[:SUMMARY_GENRES], dataset.decade_counts(history)
    parts = []
    if top:
        parts.append("Most common genres: " + ", ".join(f"{g} ({n})" for g, n in top) + ".")
    if decades:
        usual = dataset.usual_decade(history)
        parts.append(f"Most common decade: the {usual}s ({decades[usual]} of {len(history)}).")
    return " ".join(parts)


def recommendation_messages(sidmap: SidMap, dataset: Dataset | None, history: Sequence[str],
                            profile: str | None = None, window: int = DEFAULT_WINDOW,
                            style: str = "sid", think: bool = False) -> tuple[list[dict], list[str]]:
    """(chat messages asking for the next item's SID, notes about adjustments made to the input).

    `think=True` asks to reason inside `<think>...</think>` before the SID (the prompt of the
    reasoning variants; their checkpoints record `"think": true`).

    Histories longer than `window` keep their last `window` items (a note says so); empty histories
    and unknown item ids raise SidLensError.
    """
    instruction = THINK_INSTRUCTION if think else PREDICT_INSTRUCTION
    return _messages(sidmap, dataset, history, profile, window, style,
                     instruction.format(noun=item_noun(dataset)))


def variant_messages(meta: dict, sidmap: SidMap, dataset: Dataset | None, history: Sequence[str],
                     profile: str | None = None, candidates: Sequence[str] | None = None) -> tuple[list[dict], list[str]]:
    """(messages, notes) of the prompt a checkpoint was trained on, read from its `sidlens.json` meta:
    its `window`, the think-first instruction when `"think"`, the history written in its style
    (`history_style`); with `candidates`, the pick-from-the-list prompt. Training, evaluation, the
    app and the RL stages all build a variant's prompt here, so they cannot drift apart."""
    window, think, style = history_window(meta), bool(meta.get("think")), history_style(meta)
    if candidates is not None:
        return candidate_messages(sidmap, dataset, history, candidates, window=window, think=think, style=style)
    return recommendation_messages(sidmap, dataset, history, profile=profile, window=window, style=style,
                                   think=think)


def candidates_start(text: str) -> int:
    """Where the candidate block of a rendered candidate prompt starts in `text` (len(text) if none):
    the SIDs before it are the user's history, those after it a seeded list of candidates."""
    match = CANDIDATES_LINE.search(text)
    return match.start() if match else len(text)


def candidate_messages(sidmap: SidMap, dataset: Dataset, history: Sequence[str], candidates: Sequence[str],
                       window: int = DEFAULT_WINDOW, think: bool = False,
                       style: str = "sid") -> tuple[list[dict], list[str]]:
    """(chat messages asking which of `candidates` the user picks next, notes): the prompted
    "pick from the list" variant of the 20-candidate protocol (S-DPO, LLaRA).

    The system turn and the history are those of `recommendation_messages` (so the model sees the
    wording it was trained on); after the history come the candidates in the given order, one line
    each, its SID then its title, and the instruction to answer with the chosen candidate's SID.
    The titles are there because the papers' prompts list candidates by title: a model that has
    aligned SIDs with titles can use either. `think=True` asks to reason in `<think>...</think>` first;
    `style` is how the history is written (HISTORY_STYLES; the candidates always show SID and title).
    """
    unknown = [str(c) for c in candidates if str(c) not in sidmap.codes]
    if not candidates or unknown:
        raise SidLensError(f"a candidate list needs at least one item, each with a SID in {sidmap.dataset} "
                           f"(unknown: {', '.join(unknown[:5]) or 'none'})")
    noun = item_noun(dataset)
    tail = (f"{CANDIDATES_HEADER.format(noun=noun)}\n{history_block(sidmap, dataset, candidates, style='title')}\n"
            + (PICK_THINK_INSTRUCTION if think else PICK_INSTRUCTION).format(noun=noun))
    return _messages(sidmap, dataset, history, None, window, style, tail)


def _messages(sidmap: SidMap, dataset: Dataset | None, history: Sequence[str], profile: str | None, window: int,
              style: str, tail: str) -> tuple[list[dict], list[str]]:
    """System turn, then a user turn of profile, history (last `window` items) and `tail`."""
    history = check_history(sidmap, history)
    notes = []
    if len(history) > window:
        notes.append(f"history of {len(history)} items truncated to the last {window}")
        history = history[-window:]
    noun = item_noun(dataset)
    user = ""
    if profile:
        user += f"User profile: {profile}.\n"
    user += (f"The user interacted with these {noun}s, oldest first:\n"
             f"{history_block(sidmap, dataset, history, style)}\n")
    messages = [{"role": "system", "content": SYSTEM_PROMPT.format(noun=noun)},
                {"role": "user", "content": user + tail}]
    return messages, notes


def render_prompt(tokenizer, messages: list[dict]) -> str:
    """The prompt text through the model's own chat template, ending where the assistant answers."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
