"""The offline teacher: narratives written from metadata and training statistics alone.

Deterministic (the same item or user always gets the same text, on any machine: phrasings are
chosen by a CRC of the ids, not by Python's randomised `hash`) but varied across items, so the
student does not learn one sentence frame. The facts it states: title, year, genres, the number
and mean of training ratings, how popular the item is, the items most often watched next to it,
and for users their profile, genres, eras and the items they rated highest and lowest. The paper's
teacher is a large LLM with world knowledge; this one knows only what the dataset says, which is
exactly what a reviewer can check (see the faithfulness flags of issue 4).
"""
from __future__ import annotations

import re
import zlib
from typing import Sequence

from core.corpus.context import CorpusContext, HistoryFacts
from core.llm.prompts import SUMMARY_GENRES


def pick(options: Sequence[str], *key) -> str:
    """One of `options`, chosen by a stable hash of `key`."""
    return options[zlib.crc32("|".join(map(str, key)).encode()) % len(options)]


def join(words: Sequence[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1] if words else ""


def article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _quality(mean: float) -> str:
    return ("highly rated" if mean >= 4.2 else "well liked" if mean >= 3.6
            else "met with mixed opinions" if mean >= 2.8 else "poorly rated")


def _popularity(rank: float) -> str:
    return ("one of the most watched titles" if rank < 0.05 else "a popular title" if rank < 0.25
            else "a moderately known title" if rank < 0.6 else "a rarely watched title")


class MetadataTeacher:
    name = "metadata"

    # -- items ------------------------------------------------------------------------------------
    def item_narrative(self, item_id: str, context: CorpusContext) -> str:
        item = context.dataset.items[item_id]
        sid, title = context.sid(item_id), context.title(item_id)
        genres = join(item.genres) or "uncategorised"
        opener = pick([f"{sid} is {title}, {article(genres)} {genres} title.",
                       f"{title} carries the Semantic ID {sid}; it is filed under {genres}.",
                       f"The item {sid} stands for {title} ({genres}).",
                       f"{title} {sid} belongs to {genres}."], item_id, "open")
        sentences = [opener]
        mean, count = context.rating_stats.get(item_id, (None, 0))
        if count and mean is not None:
            sentences.append(pick([
                f"It has {count} training ratings averaging {mean:.1f} out of 5, so it is {_quality(mean)}.",
                f"Viewers rated it {mean:.1f}/5 on average over {count} ratings: {_quality(mean)}.",
                f"With a mean rating of {mean:.1f} from {count} viewers it is {_quality(mean)}."], item_id, "rating"))
            sentences.append(pick([f"It is {_popularity(context.popularity_rank[item_id])} in the catalogue.",
                                   f"Among all items it is {_popularity(context.popularity_rank[item_id])}."],
                                  item_id, "pop"))
        else:
            sentences.append("Nobody rated it in the training data.")
        together = [context.labelled(i) for i in context.cowatched(item_id)]
        if together:
            sentences.append(pick([f"People who watched it often watched {join(together)} around the same time.",
                                   f"It is frequently watched next to {join(together)}.",
                                   f"Its usual neighbours in viewing histories are {join(together)}."], item_id, "co"))
        return " ".join(sentences)

    # -- users ------------------------------------------------------------------------------------
    def user_narrative(self, user_id: str, history: Sequence[str], context: CorpusContext) -> str:
        facts = context.history_facts(user_id, history)
        key = (user_id, history[0], len(history))
        profile = context.profile(user_id)
        who = f"This viewer ({profile})" if profile else "This viewer"
        sentences = [pick([f"{who} watched {len(history)} titles in this stretch.",
                           f"{who} went through {len(history)} titles here."], *key, "open")]
        steps = ["They begin with {}.", "Next come {}.", "After that they watch {}.", "Then {}."]
        groups = [history[i:i + 4] for i in range(0, len(history), 4)]
        for n, group in enumerate(groups):
            text = join([context.labelled(i) for i in group])
            last = n == len(groups) - 1 and n > 0
            sentences.append(f"Most recently: {text}." if last else steps[min(n, len(steps) - 1)].format(text))
        sentences.extend(self._taste(facts, context, key))
        return " ".join(sentences)

    def preference_summary(self, user_id: str, history: Sequence[str], context: CorpusContext) -> str:
        facts = context.history_facts(user_id, history)
        key = (user_id, history[0], len(history), "summary")
        lines = []
        if facts.genres:
            lines.append(pick(["Likes: {}.", "Favourite genres: {}.", "Drawn to {}."], *key, "g").format(
                join([g for g, _ in facts.genres[:3]])))
        if facts.decades:
            lines.append(f"Era: mostly the {facts.decades[0][0]}s"
                         + (f", some {join([f'{d}s' for d, _ in facts.decades[1:3]])}." if len(facts.decades) > 1 else "."))
        if facts.mean_rating is not None:
            mean = facts.mean_rating
            manner = "generously" if mean >= 3.8 else "critically" if mean < 3.2 else "evenly"
            lines.append(f"Rates {manner} (mean {mean:.1f}/5).")
        if facts.liked:
            lines.append(f"Favourites: {join([context.labelled(i) for i in facts.liked[:3]])}.")
        if facts.disliked:
            lines.append(f"Avoids titles like {join([context.labelled(i) for i in facts.disliked[:2]])}.")
        return " ".join(lines)

    def _taste(self, facts: HistoryFacts, context: CorpusContext, key) -> list[str]:
        out = []
        if facts.genres:
            top = [f"{g} ({n})" for g, n in facts.genres[:3]]
            out.append(pick([f"{join(top)} dominate.", f"The genres that recur are {join(top)}.",
                             f"Most of it is {join(top)}."], *key, "genres"))
        if facts.decades:
            out.append(pick(["Most titles are from the {}s.", "The {}s are the favourite era."], *key, "era")
                       .format(facts.decades[0][0]))
        if facts.liked:
            out.append(f"They rated {join([context.labelled(i) for i in facts.liked[:2]])} highest.")
        if facts.disliked:
            out.append(f"They did not enjoy {context.labelled(facts.disliked[0])}.")
        return out

    # -- reasoning ---------------------------------------------------------------------------------
    def reasoning_trace(self, user_id: str, history: Sequence[str], target: str, context: CorpusContext) -> str:
        """Two or three observations about the history, then what kind of item comes next.

        Every observation names history items as the prompt shows them (`Title (year) <sid>`) and
        states only facts `core.eval.faithfulness` checks against the catalogue: the genres of the
        one item a sentence names, copied whole and in order from its prompt line ("X (1995) <sid>,
        which is Crime, Drama, Thriller": the student copies a line it sees instead of merging or
        counting genres over items, which the first facts-prompt student got wrong in most traces),
        that a named item is in the history, and counts over the whole history (the most common genre,
        the two taste genres, the usual decade) exactly as the summary prompt lists them
        (`core.llm.prompts.history_summary`: a 135M student copies a count it sees, it cannot count
        20 items). The structures (recent trend, dominant genre, era, series, taste profile) are
        chosen by what the prompt shows (`_observations`), so users with different histories get
        different shapes and the student can learn which one applies; the phrasing within a structure
        varies by a stable hash of the ids. The conclusion names only what the history supports (`_conclusion`: its most common
        genre and decade, not the target's), never an item: the SID after `</think>` names the item
        (a title the student would have to recall is what the first traces made up). Kept short
        (~50-110 tokens) so reasoning stays cheap to train on and to decode.
        """
        history = list(history)
        key = (user_id, len(history), target)
        return " ".join([text for text in self._observations(history, context, key) if text]
                        + [self._conclusion(history, target, context, key)])

    def _observations(self, history, context, key) -> list[str | None]:
        """The two observations, chosen by what the prompt shows, so the student can tell which apply:
        the latest item continuing a series of the history (series, then the taste profile); the latest
        item carrying the history's most common genre (recent, then dominant genre); the latest item
        carrying one of the summary's listed genres (recent, then profile); else, a latest pick away
        from their usual genres (era, then profile). A choice by a hash of the ids instead, which the
        student cannot see, left it writing the likeliest shape for every user (greedy decoding: one
        structure in all 943 test traces)."""
        listed = [g for g, _ in context.dataset.ranked_genres(history)[:SUMMARY_GENRES]]
        latest = set(context.dataset.items[history[-1]].genres)
        if (series := self._series(history, context, key)) is not None:
            return [series, self._profile(history, context, key)]
        if listed and listed[0] in latest:
            return [self._recent(history, context, key), self._dominant(history, context, key)]
        if latest & set(listed):
            return [self._recent(history, context, key), self._profile(history, context, key)]
        return [self._era(history, context, key), self._profile(history, context, key)]

    @staticmethod
    def _genre_line(context: CorpusContext, item_id: str) -> str:
        """The item's genres exactly as the facts prompt lists them after its SID."""
        return ", ".join(context.dataset.items[item_id].genres)

    def _recent(self, history, context, key) -> str | None:
        last = history[-1]
        if not context.dataset.items[last].genres:
            return None
        first = pick([f"The latest is {context.labelled(last)}, which is {self._genre_line(context, last)}.",
                      f"Most recently they watched {context.labelled(last)}, which is "
                      f"{self._genre_line(context, last)}."], *key, "recent")
        before = history[-2] if len(history) > 1 else None
        if before is None or before == last or not context.dataset.items[before].genres \
                or zlib.crc32(f"{key}|recent".encode()) % 2:
            return first
        return first + f" Before it came {context.labelled(before)}, which is {self._genre_line(context, before)}."

    def _dominant(self, history, context, key) -> str | None:
        ranked = context.dataset.ranked_genres(history)
        if not ranked:
            return None
        genre = ranked[0][0]
        having = [i for i in history[::-1] if genre in context.dataset.items[i].genres]
        example = next((i for i in having if i not in history[-2:]), having[0])  # not the item _recent names
        named = f"{context.labelled(example)}, which is {self._genre_line(context, example)}"
        return pick([f"{genre} recurs most, as in {named}.",
                     f"Most of the history is {genre}, for example {named}."], *key, "dominant")

    def _era(self, history, context, key) -> str | None:
        """The history's usual decade, named without an example item: the summary prompt lists it, and a
        student that had to name an item from that decade named the latest item whatever its year."""
        decade = context.dataset.usual_decade(history)
        if decade is None:
            return None
        return pick([f"The {decade}s are the decade they watch most.",
                     f"Most of what they watch is from the {decade}s."], *key, "era")

    def _series(self, history, context, key) -> str | None:
        """The latest item when an earlier history item belongs to the same series (`series_key`)."""
        wanted = series_key(context.dataset.items[history[-1]].title)
        if not wanted or not any(series_key(context.dataset.items[i].title) == wanted for i in history[:-1]
                                 if i != history[-1]):
            return None
        return pick([f"They watched {context.labelled(history[-1])}, part of a series they may continue.",
                     f"{context.labelled(history[-1])} in their history belongs to a series."], *key, "series")

    def _profile(self, history, context, key) -> str | None:
        top = [g for g, _ in context.dataset.ranked_genres(history)[:2]]
        if len(top) < 2:
            return None
        return pick([f"Their taste leans to {join(top)}.", f"Overall this viewer prefers {join(top)}."], *key, "profile")

    def _conclusion(self, history, target, context, key) -> str:
        """What kind of item comes next, inferred from the history alone: its most common genre and
        usual decade (what the summary prompt lists). Not the next item's own genre: a conclusion that
        knows the target teaches the student that the SID after `</think>` follows the conclusion, and
        at test time the conclusion is a guess the SID then follows (a conclusion naming the genre the
        target shares with the history bound the answer to it: 77% of a reasoning variant's top-1
        answers carried the concluded genre, and HR@10 fell against the parent sft). `target` is only
        part of the phrasing key."""
        ranked = context.dataset.ranked_genres(history)
        usual = context.dataset.usual_decade(history)
        era = f" from the {usual}s" if usual else ""
        if not ranked:
            return pick([f"Next they will probably watch another title{era}.",
                         f"A fitting next pick is another title{era}."], *key, "end")
        genre = ranked[0][0]
        kind = f"{article(genre)} {genre} title{era}"
        return pick([f"So the next one is likely {kind}, in line with their taste.", f"A fitting next pick is {kind}.",
                     f"Next they will probably watch {kind}."], *key, "end")


SERIES_TAIL = re.compile(r"(\s*(:.*|\b(part\s+)?([ivx]+|\d+)\b.*))$", re.IGNORECASE)


def series_key(title: str) -> str:
    """The franchise a title belongs to ('Star Trek: First Contact' and 'Star Trek VI: ...' -> 'star
    trek'); empty when too short to say. MovieLens writes leading articles at the end ('Godfather:
    Part II, The')."""
    base = re.sub(r"\s*\(\d{4}\)$", "", title)
    base = re.sub(r",\s*(The|A|An)$", "", base.split(":")[0] if ":" in base else base)
    base = SERIES_TAIL.sub("", base).strip().lower()
    return base if len(base) >= 4 else ""
