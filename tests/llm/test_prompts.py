import pytest

from core.data.schema import Dataset, Item
from core.errors import SidLensError
from core.llm.prompts import (
    DEFAULT_WINDOW,
    candidate_messages,
    history_block,
    history_summary,
    history_window,
    recommendation_messages,
    render_prompt,
    variant_messages,
)
from core.llm.tiny import tiny_model


@pytest.fixture
def toy_dataset(toy_sidmap):
    items = {i: Item(i, f"Film {i} (1995)", 1995) for i in toy_sidmap.codes}
    return Dataset("toy", items, {}, {}, meta={"item_noun": "movie"})


def test_history_block_lists_sids_oldest_first(toy_sidmap, toy_dataset):
    assert history_block(toy_sidmap, toy_dataset, ["3", "17"]) == "<a_3><b_0><c_3>\n<a_1><b_2><c_1>"
    assert history_block(toy_sidmap, toy_dataset, [3], style="title") == "<a_3><b_0><c_3> Film 3 (1995)"
    items = {**toy_dataset.items, "3": Item("3", "Heat", 1995, ("Action", "Crime")), "17": Item("17", "Film 17", None)}
    dataset = Dataset("toy", items, {}, {}, meta=toy_dataset.meta)
    # facts: the title with its year, then the SID (how the traces name an item), then the genres
    assert history_block(toy_sidmap, dataset, ["3", "17"], style="facts") == (
        "Heat (1995) <a_3><b_0><c_3>: Action, Crime\nFilm 17 <a_1><b_2><c_1>")
    with pytest.raises(ValueError, match="unknown history style"):
        history_block(toy_sidmap, dataset, ["3"], style="titles")


def test_summary_history_ends_with_the_counts_the_traces_state(toy_sidmap):
    items = {i: Item(i, f"Film {i}", 1990 + int(i) % 3 * 10 if int(i) % 5 else None,
                     (("Drama",) if int(i) % 2 else ("Comedy", "Crime")) + (("War",) if i == "3" else ()))
             for i in toy_sidmap.codes}
    dataset = Dataset("toy", items, {}, {})
    history = ["3", "17", "4", "6"]  # Drama 2 (3, 17), Comedy 2 and Crime 2 (4, 6), War 1; 1990s: 3, 6
    block = history_block(toy_sidmap, dataset, history, style="summary")
    assert block.startswith(history_block(toy_sidmap, dataset, history, style="facts") + "\n")
    # ties broken by name, as the teacher's "recurs most" and the checker's counts break them; top three only
    assert block.splitlines()[-1] == ("Most common genres: Comedy (2), Crime (2), Drama (2). "
                                      "Most common decade: the 1990s (2 of 4).")
    # no item with a year: no decade part
    assert history_summary(dataset, ["5", "10"]) == "Most common genres: Comedy (1), Crime (1), Drama (1)."
    no_facts = Dataset("toy", {i: Item(i, f"Film {i}") for i in toy_sidmap.codes}, {}, {})
    assert history_block(toy_sidmap, no_facts, ["3"], style="summary") == "Film 3 <a_3><b_0><c_3>"


def test_messages_render_through_the_chat_template(toy_sidmap, toy_dataset):
    _, tokenizer = tiny_model()
    messages, notes = recommendation_messages(toy_sidmap, toy_dataset, ["3", "17"], profile="age 24, male, student")
    assert notes == [] and [m["role"] for m in messages] == ["system", "user"]
    assert "next movie" in messages[1]["content"] and "age 24, male, student" in messages[1]["content"]
    prompt = render_prompt(tokenizer, messages)
    assert prompt.startswith("<|im_start|>system\n") and prompt.endswith("<|im_start|>assistant\n")
    assert "<a_3><b_0><c_3>\n<a_1><b_2><c_1>" in prompt


def test_long_history_is_truncated_with_a_note(toy_sidmap, toy_dataset):
    history = [str(i) for i in range(30)]
    messages, notes = recommendation_messages(toy_sidmap, toy_dataset, history, window=20)
    assert notes == ["history of 30 items truncated to the last 20"]
    assert toy_sidmap.sid_text("9") not in messages[1]["content"]
    assert toy_sidmap.sid_text("10") in messages[1]["content"]


def test_bad_histories_are_one_line_errors(toy_sidmap, toy_dataset):
    with pytest.raises(SidLensError, match="empty history"):
        recommendation_messages(toy_sidmap, toy_dataset, [])
    with pytest.raises(SidLensError, match=r"unknown item ids in history for dataset toy: 999, x") as exc:
        recommendation_messages(toy_sidmap, toy_dataset, ["3", "999", "x", "999"])
    assert "\n" not in str(exc.value)


def test_think_variant_only_changes_the_instruction(toy_sidmap, toy_dataset):
    plain, _ = recommendation_messages(toy_sidmap, toy_dataset, ["3", "17"])
    think, _ = recommendation_messages(toy_sidmap, toy_dataset, ["3", "17"], think=True)
    assert "<think></think>" in think[1]["content"] and "<think>" not in plain[1]["content"]
    assert think[0] == plain[0]
    assert think[1]["content"].split("\n")[:3] == plain[1]["content"].split("\n")[:3]


def test_variant_prompt_follows_the_checkpoint_meta(toy_sidmap, toy_dataset):
    history = [str(i) for i in range(12)]
    sft, notes = variant_messages({}, toy_sidmap, toy_dataset, history)
    assert (sft, notes) == recommendation_messages(toy_sidmap, toy_dataset, history)
    meta = {"think": True, "titles": True, "window": 5}
    titled, notes = variant_messages(meta, toy_sidmap, toy_dataset, history)
    assert notes == ["history of 12 items truncated to the last 5"]
    lines = titled[1]["content"].split("\n")
    assert lines[1:6] == [f"{toy_sidmap.sid_text(str(i))} Film {i} (1995)" for i in range(7, 12)]
    assert "<think></think>" in lines[-1]
    picked, _ = variant_messages(meta, toy_sidmap, toy_dataset, history, candidates=["20", "21"])
    assert picked[1]["content"].split("\n")[1:6] == lines[1:6] and "Candidate movies:" in picked[1]["content"]
    facts, _ = variant_messages({**meta, "history": "facts"}, toy_sidmap, toy_dataset, history)
    assert facts[1]["content"].split("\n")[1:6] == [f"Film {i} (1995) {toy_sidmap.sid_text(str(i))}" for i in range(7, 12)]
    with pytest.raises(SidLensError, match="unknown history style 'sids'"):
        variant_messages({"history": "sids"}, toy_sidmap, toy_dataset, history)
    with pytest.raises(SidLensError, match="window must be a positive integer, not 0"):
        variant_messages({"window": 0}, toy_sidmap, toy_dataset, history)


def test_history_window_reads_the_meta_and_defaults_for_older_checkpoints():
    assert history_window({"window": 5}) == 5
    assert history_window({}) == DEFAULT_WINDOW
    for bad in ("20", 2.5, True, -1):
        with pytest.raises(SidLensError, match="window must be a positive integer"):
            history_window({"window": bad})


def test_candidate_prompt_lists_every_candidate_after_the_canonical_history(toy_sidmap, toy_dataset):
    candidates = [str(i) for i in (21, 4, 38, 0, 13, 30, 7, 25, 11, 36, 2, 19, 33, 8, 27, 15, 39, 5, 22, 31)]
    plain, _ = recommendation_messages(toy_sidmap, toy_dataset, ["3", "17"])
    messages, notes = candidate_messages(toy_sidmap, toy_dataset, ["3", "17"], candidates)
    assert notes == [] and messages[0] == plain[0]
    user = messages[1]["content"]
    history_part = plain[1]["content"].rsplit("\n", 1)[0]  # the canonical prompt up to its instruction
    assert user.startswith(history_part + "\nCandidate movies:\n")
    listed = user.split("Candidate movies:\n", 1)[1].split("\n")
    assert listed[:20] == [f"{toy_sidmap.sid_text(c)} Film {c} (1995)" for c in candidates]  # all 20, in order
    assert listed[20] == "Answer with the Semantic ID of the one candidate movie the user will interact with next."
    assert len(listed) == 21
    think, _ = candidate_messages(toy_sidmap, toy_dataset, ["3", "17"], candidates, think=True)
    assert "<think></think>" in think[1]["content"] and think[1]["content"].split("\n")[:-1] == user.split("\n")[:-1]
    _, tokenizer = tiny_model()
    prompt = render_prompt(tokenizer, messages)
    assert prompt.endswith("<|im_start|>assistant\n") and all(toy_sidmap.sid_text(c) in prompt for c in candidates)


def test_candidate_prompt_rejects_bad_candidate_lists(toy_sidmap, toy_dataset):
    with pytest.raises(SidLensError, match=r"candidate list .*unknown: 999"):
        candidate_messages(toy_sidmap, toy_dataset, ["3"], ["1", "999"])
    with pytest.raises(SidLensError, match="candidate list"):
        candidate_messages(toy_sidmap, toy_dataset, ["3"], [])
    with pytest.raises(SidLensError, match="empty history"):
        candidate_messages(toy_sidmap, toy_dataset, [], ["1"])
