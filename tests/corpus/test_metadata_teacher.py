"""The offline teacher states the right facts, interleaves the right SIDs and is deterministic."""
from __future__ import annotations

import re

from core.corpus.metadata_teacher import MetadataTeacher, join, series_key
from core.eval.faithfulness import FLAGS, FaithfulnessChecker
from core.llm.prompts import history_summary
from core.sid.sidmap import TOKEN_RE


def _sid_items(ctx, text: str) -> list[str]:
    """Items named by the SIDs in `text`, in order."""
    sids = [m.group(0) for m in TOKEN_RE.finditer(text)]
    return [ctx.sidmap.item_for_text("".join(sids[i:i + 3])) for i in range(0, len(sids), 3)]


def test_item_narrative_states_metadata_and_statistics(tiny_context):
    teacher = MetadataTeacher()
    item_id = max(tiny_context.rating_stats, key=lambda i: tiny_context.rating_stats[i][1])
    text = teacher.item_narrative(item_id, tiny_context)
    mean, count = tiny_context.rating_stats[item_id]
    assert tiny_context.sid(item_id) in text and tiny_context.title(item_id) in text
    assert join(tiny_context.dataset.items[item_id].genres) in text
    assert f"{mean:.1f}" in text and str(count) in text
    named = _sid_items(tiny_context, text)
    assert named[0] == item_id and named[1:] == tiny_context.cowatched(item_id)


def test_narratives_are_deterministic_but_varied(tiny_context):
    texts = [MetadataTeacher().item_narrative(i, tiny_context) for i in tiny_context.catalogue]
    again = [MetadataTeacher().item_narrative(i, tiny_context) for i in tiny_context.catalogue]
    assert texts == again
    openers = {t.split(" ")[1] for t in texts}
    assert len(openers) >= 3


def test_user_narrative_walks_the_history_in_order(tiny_context):
    history = tiny_context.split.train_items("2")[:9]
    text = MetadataTeacher().user_narrative("2", history, tiny_context)
    named = _sid_items(tiny_context, text)
    assert named[:len(history)] == history            # every item, in order, then favourites
    assert set(named) <= set(history)
    assert tiny_context.profile("2") in text


def test_preference_summary_names_top_genre_and_history_items_only(tiny_context):
    history = tiny_context.split.train_items("4")
    text = MetadataTeacher().preference_summary("4", history, tiny_context)
    facts = tiny_context.history_facts("4", history)
    assert facts.genres[0][0] in text and f"{facts.decades[0][0]}s" in text
    assert set(_sid_items(tiny_context, text)) <= set(history)


def test_reasoning_traces_are_varied_checkable_and_end_in_the_next_items_kind(tiny_context):
    checker = FaithfulnessChecker(tiny_context.dataset, tiny_context.sidmap)
    openings, conclusions = set(), set()
    for example in tiny_context.train_examples[::7]:
        history = example.history[-tiny_context.window:]
        text = MetadataTeacher().reasoning_trace(example.user_id, history, example.target, tiny_context)
        assert text == MetadataTeacher().reasoning_trace(example.user_id, history, example.target, tiny_context)
        assert checker.flags(text, history) == {flag: [] for flag in FLAGS}  # every claim holds
        assert set(_sid_items(tiny_context, text)) <= set(history)  # the target's SID follows </think>
        last = text.rsplit(". ", 1)[-1]  # the conclusion: the history's own genre and decade, not the target's
        counts = tiny_context.dataset.genre_counts(history)
        seen = sorted(counts)
        named = [g for g in seen if g in last]
        assert named == [min(counts, key=lambda g: (-counts[g], g))]
        assert f"the {tiny_context.dataset.usual_decade(history)}s" in last
        conclusions.add(last)
        openings.add(" ".join(text.split()[:2]))
    assert len(openings) >= 3  # several structures, not one template
    assert len(conclusions) >= 3  # several phrasings and genres


def test_what_a_trace_observes_depends_on_the_history_alone(tiny_context):
    """The structure (which items are named, which genres and decade) is read off the prompt, so the
    student can learn it; only the phrasing varies with the user and target ids (and whether the recent
    observation also names the item before the latest, a detail that makes no claim about the history as
    a whole)."""
    teacher, shapes = MetadataTeacher(), set()
    for example in tiny_context.train_examples:
        history = example.history[-tiny_context.window:]
        others = [t for t in tiny_context.dataset.items if t != example.target][:3]
        contents = set()
        for user, target in [(example.user_id, example.target)] + [("someone else", t) for t in others]:
            text = re.sub(r" Before it came [^<]*<[^.]*\.", "", teacher.reasoning_trace(user, history, target, tiny_context))
            genres = tuple(sorted(set(re.findall(r"Drama|Comedy|Action|Horror|Romance|Animation", text))))
            contents.add((tuple(_sid_items(tiny_context, text)), genres, tuple(re.findall(r"\d{4}s", text))))
        assert len(contents) == 1, contents
        shapes.add(len(contents.pop()[0]))
    assert len(shapes) >= 2  # traces naming different numbers of items: several structures


def test_claims_about_the_whole_history_copy_the_summary_prompts_counts(tiny_context):
    """What the traces say about the whole history (the dominant genre, the two taste genres, the usual
    decade) is written in the summary prompt's last line, so a student can copy it instead of counting."""
    claims = {"dominant": 0, "taste": 0, "era": 0}
    histories = [(u, items[max(0, n - tiny_context.window):n], items[n]) for u in tiny_context.dataset.sequences
                 for items in [tiny_context.split.train_items(u)] for n in range(3, len(items))]
    for user, history, target in histories:
        text = MetadataTeacher().reasoning_trace(user, history, target, tiny_context)
        summary = history_summary(tiny_context.dataset, history)
        listed = re.findall(r"(\w[\w-]*) \(\d+\)", summary.split(". Most common decade")[0])
        for genre in re.findall(r"(\w[\w-]*) recurs most|Most of the history is (\w[\w-]*)", text):
            assert "".join(genre) == listed[0]
            claims["dominant"] += 1
        for a, b in re.findall(r"(?:leans to|prefers) (\w[\w-]*) and (\w[\w-]*)", text):
            assert [a, b] == listed[:2]
            claims["taste"] += 1
        for decade in re.findall(r"The (\d{4})s are the decade they watch most|Most of what they watch is from the "
                                 r"(\d{4})s", text):
            assert f"Most common decade: the {''.join(decade)}s" in summary
            claims["era"] += 1
    assert min(claims.values()) > 0  # every kind of claim was met


def test_series_key_groups_sequels_and_ignores_short_names():
    assert series_key("Star Trek: First Contact (1996)") == series_key("Star Trek VI: The Undiscovered Country (1991)")
    assert series_key("Godfather, The (1972)") == series_key("Godfather: Part II, The (1974)") == "godfather"
    assert series_key("Die Hard 2 (1990)") == "die hard" and series_key("Heat (1995)") == "heat"
    assert series_key("Toy Story (1995)") != series_key("Star Wars (1977)") and series_key("Ran (1985)") == ""
