"""Faithfulness flags on hand-built traces (each rule fires, and only where it should), and on the
offline teacher's own traces of real ml-100k users, which state only true facts and must be clean."""
from __future__ import annotations

import re

import pytest

from core.data.schema import Dataset, Item
from core.eval.faithfulness import ANSWER_FLAG, FLAGS, FaithfulnessChecker, flag_rates
from core.sid.sidmap import SidMap

ITEMS = {"1": Item("1", "Toy Story", 1995, ("Animation", "Children's", "Comedy")),
         "2": Item("2", "Heat", 1995, ("Action", "Crime", "Thriller")),
         "3": Item("3", "Mr. Holland's Opus", 1995, ("Drama",)),
         "4": Item("4", "Casablanca", 1942, ("Drama", "Romance", "War")),
         "5": Item("5", "Scream", 1996, ("Horror", "Thriller"))}
DATASET = Dataset("toy", ITEMS, {}, {})
SIDMAP = SidMap("toy", "hand", [4, 4, 4], {"1": (0, 0, 0), "2": (0, 1, 0), "3": (1, 0, 0), "4": (2, 0, 0),
                                            "5": (3, 0, 1)})
CHECK = FaithfulnessChecker(DATASET, SIDMAP)
HISTORY = ["1", "2", "3"]


def flags(text: str, history=HISTORY) -> dict:
    return {k: v for k, v in CHECK.flags(text, history).items() if v}


def test_faithful_trace_has_no_flags():
    text = ("The user has watched 3 titles. They rated Toy Story (1995) <a_0><b_0><c_0> highest. "
            "The latest are Heat (1995) <a_0><b_1><c_0> and Mr. Holland's Opus (1995) <a_1><b_0><c_0>, which are "
            "Action and Drama. So the next one is likely a Drama and Romance title from the 1940s: Casablanca (1942).")
    assert flags(text) == {}


def test_sid_that_is_no_item():
    got = flags("They liked <a_3><b_3><c_3> and <a_1><b_0>. Heat (1995) <a_0><b_1><c_0> too.")
    assert got == {"unknown_sid": ["<a_3><b_3><c_3> is not an item", "<a_1><b_0> is not an item"]}


def test_item_said_to_be_watched_but_not_in_history():
    got = flags("They watched Casablanca (1942) and <a_3><b_0><c_1> last week.")
    assert got == {"not_in_history": ["Casablanca (1942) is said to be in the history",
                                      "Scream (1996) is said to be in the history"]}
    # the predicted item is not claimed to be in the history, nor is one in a mixed sentence
    assert flags("The next one is likely Casablanca (1942).") == {}
    assert flags("Since they watched Heat (1995), they will like Casablanca (1942).") == {}


def test_year_claims():
    assert flags("They rated Toy Story (1994) highest.") == {"year": ["Toy Story (1994): the item is from 1995"]}
    assert flags("The next is Casablanca (1942), a classic from the 1990s.") == {
        "year": ["Casablanca (1942) is not from the 1990s"]}
    # a decade claim about several items at once is not checked against one of them
    assert flags("They rated Toy Story (1995) and Heat (1995) highest, both from the 1980s.") == {}


def test_genre_claims():
    assert flags("The next one is likely a Comedy title: Casablanca (1942).") == {
        "genre": ["Comedy claimed for Casablanca (1942)"]}
    assert flags("The latest are Heat (1995) and Toy Story (1995), which are Horror and Comedy.") == {
        "genre": ["Horror claimed for Heat (1995), Toy Story (1995)"]}
    # genre words that are not claims about the named items are left alone
    assert flags("Comedy (2) and Drama (1) dominate. They rated Heat (1995) highest.") == {}


def test_claims_about_the_whole_history():
    mostly_1990s = ["1", "4", "5", "2"]  # 1995, 1942, 1996, 1995; Thriller twice, every other genre once
    assert flags("Casablanca (1942) is from the 1940s, like most of what they watch.", mostly_1990s) == {
        "year": ["the history is mostly from the 1990s, not the 1940s"]}
    assert flags("Heat (1995) is from the 1990s, the decade they watch most.", mostly_1990s) == {}
    assert flags("Drama recurs most, as in Casablanca (1942), which is Drama, Romance, War.", mostly_1990s) == {
        "genre": ["Drama is said to recur most, but Thriller is more common in the history"]}
    assert flags("Most of the history is Thriller, for example Scream (1996), which is Horror, Thriller.",
                 mostly_1990s) == {}
    assert flags("Overall this viewer prefers Thriller and Comedy.", ["2", "5"]) == {
        "genre": ["Comedy is not among the history's two most common genres"]}
    assert flags("Their taste leans to Thriller and Horror.", ["2", "5"]) == {}  # Horror ties for second


def test_title_followed_by_another_items_sid():
    assert flags("They rated Heat (1995) <a_0><b_0><c_0> highest.") == {
        "title_sid": ["Heat (1995) is followed by <a_0><b_0><c_0>, the SID of Toy Story"]}


def test_invented_title_before_a_real_sid():
    """A misspelt or invented `Title (YYYY)` right before a real SID (seen in GRPO rollouts: "Good Will
    Finding Heaven (1997) <sid of Good Will Hunting>") matches no title, so only this rule sees it."""
    assert flags("The latest is Toy Stori (1995) <a_0><b_0><c_0>, which is Comedy.") == {
        "title_sid": ["<a_0><b_0><c_0> follows a title that is not its item's, Toy Story (1995)"]}
    assert flags("Before it came Lavender, The (1941)<a_0><b_1><c_0>.") == {
        "title_sid": ["<a_0><b_1><c_0> follows a title that is not its item's, Heat (1995)"]}
    # the right title, a SID without a title, or a year far from the SID are not this flag
    assert flags("The latest is Toy Story (1995) <a_0><b_0><c_0>. They watched <a_0><b_1><c_0> in 1995 (1995) too.") == {}


def test_conclusion_that_disagrees_with_the_answer():
    conclusion = "Heat (1995) is their latest. So the next one is likely a Drama and Romance title from the 1940s."
    assert CHECK.flags(conclusion, HISTORY, answer="4")[ANSWER_FLAG] == []  # Casablanca: Drama, 1942
    assert CHECK.flags(conclusion, HISTORY, answer="5")[ANSWER_FLAG] == [
        "the reasoning predicts Drama, Romance, the answer Scream (1996) is Horror, Thriller",
        "the reasoning predicts the 1940s, the answer Scream (1996) is from 1996"]
    named = "They watched Heat (1995), so next they will probably watch Casablanca (1942)."
    assert CHECK.flags(named, HISTORY, answer="4")[ANSWER_FLAG] == []  # Heat is history, Casablanca the answer
    assert CHECK.flags(named, HISTORY, answer="5")[ANSWER_FLAG] == [
        "the reasoning names Casablanca (1942) next, the answer is Scream (1996)"]
    assert ANSWER_FLAG not in CHECK.flags(conclusion, HISTORY)  # not checked without an answer


def test_flag_rates():
    all_flags = [CHECK.flags(t, HISTORY) for t in ["They watched Casablanca (1942).", "", "<a_3><b_3><c_3>"]]
    rates = flag_rates(all_flags)
    assert set(rates) == {f"flag_{f}" for f in FLAGS} | {"flag_any"}
    assert rates["flag_not_in_history"] == pytest.approx(1 / 3)
    assert rates["flag_unknown_sid"] == pytest.approx(1 / 3)
    assert rates["flag_any"] == pytest.approx(2 / 3)
    assert rates["flag_genre"] == 0.0
    checked = [CHECK.flags("Next they will probably watch a Horror title.", HISTORY, answer=a) for a in ("5", "4")]
    rates = flag_rates(all_flags + checked)
    assert rates[f"flag_{ANSWER_FLAG}"] == pytest.approx(1 / 2)  # over the two traces whose answer was checked
    assert rates["flag_any"] == pytest.approx(2 / 5)  # the answer flag is not a faithfulness flag


def test_teacher_traces_of_real_users_are_clean(ml100k):
    """The offline teacher writes only facts from the metadata: its traces must raise no faithfulness flag
    (the answer flag is left out: the conclusion infers the kind of item from the history alone, so the
    real next item may differ from it)."""
    from core.corpus.context import CorpusContext
    from core.corpus.metadata_teacher import MetadataTeacher

    ordered = sorted(ml100k.items, key=int)
    sidmap = SidMap(ml100k.name, "hand", [16, 16, 16], {i: (n % 16, n // 16 % 16, n // 256) for n, i in enumerate(ordered)})
    context = CorpusContext(ml100k, sidmap)
    checker = FaithfulnessChecker(ml100k, sidmap)
    examples = context.train_examples[::997][:60]
    teacher = MetadataTeacher()
    for ex in examples:
        trace = teacher.reasoning_trace(ex.user_id, ex.history, ex.target, context)
        assert {k: v for k, v in checker.flags(trace, ex.history).items() if v} == {}, trace
    # and a corrupted trace is caught: the year of the first item it names changed
    ex = examples[0]
    trace = teacher.reasoning_trace(ex.user_id, ex.history, ex.target, context)
    year = int(re.search(r"\((\d{4})\)", trace).group(1))
    assert checker.flags(trace.replace(f"({year})", f"({year + 1})", 1), ex.history)["year"]
