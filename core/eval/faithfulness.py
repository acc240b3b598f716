"""Automatic faithfulness flags for a reasoning trace: claims a reviewer can check against the data.

A trace's reasoning mentions items by SID (`<a_1><b_2><c_3>`) and by exact title with its year
(`Toy Story (1995)`, how the teacher writes them). The rules, each deliberately simple so a flag
can be explained in one line (and each tested on hand-built traces):

- `unknown_sid`: a SID in the reasoning that names no item (a partial SID, levels out of order, or
  an unused code combination; `core.decode.stream.split_sid_chunks` decides).
- `not_in_history`: an item said to be in the history that is not. "Said to be in the history" =
  mentioned in a sentence with a history cue ("watched", "rated", "latest", "enjoyed", "history",
  ...) and without a prediction cue ("next", "likely", "recommend", ...): a sentence that says
  "since they watched X, the next is Y" mixes both and is skipped rather than guessed at.
- `year`: `Title (YYYY)` where no item with that title is from YYYY; "from the 1990s" in a
  sentence that names exactly one item, when that item is from another decade; and a decade said to
  be the history's usual one ("most of what they watch is from the 1990s", "the decade they watch most") that
  fewer history items are from than from another decade.
- `genre`: genres claimed for the items of a sentence ("a Comedy and Drama title", "..., which are
  Horror") that none of the sentence's named items has; and claims about the whole history: a genre
  said to recur most ("Drama recurs most", "Most of the history is Drama") that another genre
  outnumbers, or said to be the viewer's taste ("this viewer prefers A and B", "Their taste leans
  to A") that is not among its two most frequent genres (ties count as among them). Counts are
  `Dataset.genre_counts` / `decade_counts`, what the teacher states (and the summary prompt lists).
- `title_sid`: a title immediately followed by a SID of another item ("Toy Story (1995) <sid of Heat>"),
  or a SID right after a `... (YYYY)` that is no title of the catalogue: a title the model invented
  or misspelt for a real SID ("Good Will Finding Heaven (1997) <sid of Good Will Hunting>").
- `answer` (when the variant's top-1 item is known): a prediction sentence that disagrees with it:
  it names a next item other than the answer, or, naming none, claims genres the answer has none of
  ("likely a Comedy title" before a Horror answer) or a decade it is not from. This one checks the
  reasoning against the model's own answer, not against the prompt, so it is reported apart.

Sentences are split at `.`/`!`/`?`/newlines after masking the mentions, so a title such as
"Mr. Holland's Opus (1995)" is not cut in two. Items named by title without a year are not
detected (too ambiguous to match). These flags go beyond the papers: neither SID reasoning nor
S-DPO checks what the reasoning says; here every stored trace carries them and each variant
reports the share of traces with each flag (`flag_rates`).
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable, Sequence

from core.data.schema import Dataset
from core.decode.stream import split_sid_chunks
from core.sid.sidmap import SidMap

FLAGS = ("unknown_sid", "not_in_history", "year", "genre", "title_sid")
# Consistency of the reasoning with the variant's own answer (not with the prompt): checked when the
# answer is known, reported beside FLAGS (`flag_answer`) and not counted in `flag_any`.
ANSWER_FLAG = "answer"
HISTORY_CUES = re.compile(r"\b(watch(ed|es)?|rated?|seen|saw|latest|recent(ly)?|enjoy(ed)?|liked|loved|"
                          r"favou?rites?|history|began|begin|highest|lowest)\b", re.IGNORECASE)
PREDICTION_CUES = re.compile(r"\b(next|likely|recommend\w*|pick|suggest\w*|should|will|would|predict\w*)\b",
                             re.IGNORECASE)
DECADE = re.compile(r"\bthe (\d{3})0s\b")
SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")
USUAL_DECADE_CUES = re.compile(r"\b(?:the decade they watch most|most of what they watch)\b", re.IGNORECASE)
TASTE_CUES = re.compile(r"\b(?:taste leans to|viewer prefers|they prefer)\b([^.!?\n]*)", re.IGNORECASE)
CLAIM_NOUNS = r"(?:titles?|movies?|films?|items?|ones?|picks?)"
YEAR_BEFORE = re.compile(r"\(\d{4}\)\s?$")  # text that ends like "Title (YYYY)", right before a SID


@dataclass
class Mention:
    start: int
    end: int
    items: tuple[str, ...]   # the items it may name: one for a SID (none if it names no item); for a
    kind: str                # title, every item with that title and year (catalogues hold duplicates)
    text: str
    year: int | None = None  # the year written after a title


class FaithfulnessChecker:
    """Flags for traces of one dataset and SID map (titles and genres compiled once)."""

    def __init__(self, dataset: Dataset, sidmap: SidMap):
        self.dataset, self.sidmap = dataset, sidmap
        self.by_title: dict[str, list[str]] = defaultdict(list)
        for item in dataset.items.values():
            self.by_title[item.title].append(item.item_id)
        titles = sorted(self.by_title, key=len, reverse=True)  # the longest title wins an overlap
        self.title_re = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, titles)) + r") \((\d{4})\)") if titles else None
        genres = sorted({g for item in dataset.items.values() for g in item.genres}, key=len, reverse=True)
        genre = "(?:" + "|".join(map(re.escape, genres)) + ")" if genres else "(?!)"
        listed = rf"{genre}(?:\s*(?:,|/|\band\b|\bor\b)\s*{genre})*"
        self.genre_word = re.compile(rf"(?<!\w){genre}(?!\w)")
        self.genre_claims = [re.compile(rf"\b(?:a|an)\s+({listed})\s+{CLAIM_NOUNS}\b"),
                             re.compile(rf"\bwhich (?:are|is)\s+(?:mostly\s+)?({listed})")]
        self.most_genre = re.compile(rf"(?<!\w)({genre}) recurs most\b|\bMost of the history is ({genre})(?!\w)")

    # -- mentions -----------------------------------------------------------------------------------
    def mentions(self, text: str) -> list[Mention]:
        """Every SID and every `Title (YYYY)` in `text`, in order of position."""
        found, pos = [], 0
        for kind, piece, item_id in split_sid_chunks(text, self.sidmap):
            if kind == "sid":
                found.append(Mention(pos, pos + len(piece), (item_id,) if item_id else (), "sid", piece))
            pos += len(piece)
        for match in self.title_re.finditer(text) if self.title_re else ():
            title, year = match.group(1), int(match.group(2))
            ids = tuple(self.by_title[title])
            same_year = tuple(i for i in ids if self.dataset.items[i].year == year)
            found.append(Mention(match.start(), match.end(), same_year or ids, "title", match.group(0), year))
        return sorted(found, key=lambda m: m.start)

    def _sentences(self, text: str, mentions: list[Mention]) -> list[tuple[str, list[Mention]]]:
        masked = list(text)
        for m in mentions:  # titles may hold "." ("Mr. Holland's Opus"): never split inside a mention
            masked[m.start:m.end] = "#" * (m.end - m.start)
        masked = "".join(masked)
        out, start = [], 0
        for end in [m.end() for m in SENTENCE_END.finditer(masked)] + [len(text)]:
            if end > start:
                out.append((text[start:end], [m for m in mentions if start <= m.start < end]))
            start = end
        return out

    # -- rules ---------------------------------------------------------------------------------------
    def flags(self, reasoning: str, history: Iterable[str], answer: str | None = None) -> dict[str, list[str]]:
        """{flag: [one line per problem]} for every flag in FLAGS (empty lists when clean), and
        ANSWER_FLAG when `answer` (the item the variant recommended first) is given."""
        history = {str(i) for i in history}
        mentions = self.mentions(reasoning)
        out: dict[str, list[str]] = {flag: [] for flag in FLAGS}
        for m in mentions:
            if m.kind == "sid" and not m.items:
                out["unknown_sid"].append(f"{m.text} is not an item")
            if m.kind == "title" and all(self.dataset.items[i].year != m.year for i in m.items):
                out["year"].append(f"{m.text}: the item is from {self.dataset.items[m.items[0]].year}")
        for a, b in zip([None] + mentions, mentions):
            if b.kind != "sid" or not b.items:
                continue
            titled = a is not None and a.kind == "title" and b.start - a.end <= 2
            if titled and b.items[0] not in a.items:
                out["title_sid"].append(f"{a.text} is followed by {b.text}, the SID of "
                                        f"{self.dataset.items[b.items[0]].title}")
            elif not titled and YEAR_BEFORE.search(reasoning[max(0, b.start - 8):b.start]):
                out["title_sid"].append(f"{b.text} follows a title that is not its item's, "
                                        f"{self.dataset.items[b.items[0]].dated_title}")
        known = [i for i in history if i in self.dataset.items]  # claims about the whole history read these
        genres, decades = self.dataset.ranked_genres(known), self.dataset.decade_counts(known)
        for sentence, named in self._sentences(reasoning, mentions):
            entities = _entities(named)
            if HISTORY_CUES.search(sentence) and not PREDICTION_CUES.search(sentence):
                out["not_in_history"] += [f"{self._label(e[0])} is said to be in the history" for e in entities
                                          if not history.intersection(e)]
            out["genre"] += self._genre_problems(sentence, entities)
            if len(entities) == 1:
                out["year"] += self._decade_problems(sentence, entities[0])
            out["year"] += self._usual_decade_problems(sentence, known, decades)
            out["genre"] += self._history_genre_problems(sentence, genres)
            if answer is not None and PREDICTION_CUES.search(sentence):
                out.setdefault(ANSWER_FLAG, []).extend(self._answer_problems(sentence, entities, history, answer))
        if answer is not None:
            out.setdefault(ANSWER_FLAG, [])
        return {flag: list(dict.fromkeys(lines)) for flag, lines in out.items()}

    def _answer_problems(self, sentence: str, entities: list[tuple[str, ...]], history: set[str],
                         answer: str) -> list[str]:
        """A prediction sentence that disagrees with the answer: it names a next item (one not in the
        history) other than the answer, or, naming none, claims genres the answer has none of or a
        decade the answer is not from."""
        item = self.dataset.items.get(answer)
        if item is None:
            return []
        label = self._label(answer)
        predicted = [e for e in entities if not history.intersection(e)]
        if predicted:
            return [] if any(answer in e for e in predicted) else \
                [f"the reasoning names {self._label(predicted[0][0])} next, the answer is {label}"]
        if entities:
            return []
        problems = []
        claimed = [g.group(0) for claim in self.genre_claims for match in claim.finditer(sentence)
                   for g in self.genre_word.finditer(match.group(1))]
        if claimed and not set(claimed) & set(item.genres):
            problems.append(f"the reasoning predicts {', '.join(dict.fromkeys(claimed))}, the answer {label} is "
                            f"{', '.join(item.genres) or 'of no genre'}")
        decades = {int(d) for d in DECADE.findall(sentence)}
        if decades and item.year and item.year // 10 not in decades:
            problems.append(f"the reasoning predicts the {min(decades)}0s, the answer {label} is from {item.year}")
        return problems

    def _genre_problems(self, sentence: str, entities: list[tuple[str, ...]]) -> list[str]:
        if not entities:
            return []
        owned = {g for e in entities for i in e for g in self.dataset.items[i].genres}
        claimed = [g.group(0) for claim in self.genre_claims for match in claim.finditer(sentence)
                   for g in self.genre_word.finditer(match.group(1))]
        names = ", ".join(self._label(e[0]) for e in entities)
        return [f"{g} claimed for {names}" for g in dict.fromkeys(claimed) if g not in owned]

    def _decade_problems(self, sentence: str, entity: tuple[str, ...]) -> list[str]:
        decades = {self.dataset.items[i].year // 10 for i in entity if self.dataset.items[i].year}
        return [f"{self._label(entity[0])} is not from the {d}0s" for d in DECADE.findall(sentence)
                if decades and int(d) not in decades]

    def _usual_decade_problems(self, sentence: str, history: list[str], decades: Counter) -> list[str]:
        """A decade said to be the history's usual one that another decade outnumbers (`decades`:
        `decade_counts` of `history`)."""
        if not decades or not USUAL_DECADE_CUES.search(sentence):
            return []
        most = max(decades.values())
        return [f"the history is mostly from the {self.dataset.usual_decade(history)}s, not the {d}0s"
                for d in DECADE.findall(sentence) if decades[int(d) * 10] < most]

    def _history_genre_problems(self, sentence: str, ranked: list[tuple[str, int]]) -> list[str]:
        """A genre said to recur most that another outnumbers; a taste genre outside the top two
        (`ranked`: `Dataset.ranked_genres` of the history)."""
        if not ranked:
            return []
        counts = dict(ranked)
        (top, most), floor = ranked[0], ranked[min(1, len(ranked) - 1)][1]
        problems = []
        for match in self.most_genre.finditer(sentence):
            genre = match.group(1) or match.group(2)
            if counts.get(genre, 0) < most:
                problems.append(f"{genre} is said to recur most, but {top} is more common in the history")
        for match in TASTE_CUES.finditer(sentence):
            problems += [f"{g.group(0)} is not among the history's two most common genres"
                         for g in self.genre_word.finditer(match.group(1)) if counts.get(g.group(0), 0) < floor]
        return problems

    def _label(self, item_id: str) -> str:
        return self.dataset.items[item_id].dated_title


def _entities(named: list[Mention]) -> list[tuple[str, ...]]:
    """The distinct items a sentence names: a title and the SID written after it are one item."""
    out: list[tuple[str, ...]] = []
    for m in named:
        if m.items and not any(set(m.items) & set(e) for e in out):
            out.append(m.items)
    return out


def flag_rates(all_flags: Sequence[dict[str, list[str]]]) -> dict[str, float]:
    """Share of traces with at least one problem of each flag (`flag_<name>`), and with any of FLAGS
    (`flag_any`); `flag_answer` over the traces whose answer was checked."""
    if not all_flags:
        return {}
    rates = {f"flag_{flag}": sum(bool(f.get(flag)) for f in all_flags) / len(all_flags) for flag in FLAGS}
    rates["flag_any"] = sum(any(f.get(flag) for flag in FLAGS) for f in all_flags) / len(all_flags)
    checked = [f for f in all_flags if ANSWER_FLAG in f]
    if checked:
        rates[f"flag_{ANSWER_FLAG}"] = sum(bool(f[ANSWER_FLAG]) for f in checked) / len(checked)
    return rates
