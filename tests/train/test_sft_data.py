"""SFT rows: the loss falls exactly on the completion (and, with dense history labels, on the
prompt's SID tokens), and packed facts train their answers only."""
from __future__ import annotations

from core.corpus.facts import Fact
from core.llm.sid_tokens import add_sid_tokens
from core.llm.tiny import tiny_model
from core.train.sft_data import IGNORE, build_rows, facts_row, record_row


def _tokenizer(sidmap):
    model, tokenizer = tiny_model()
    return tokenizer, frozenset(add_sid_tokens(model, tokenizer, sidmap))


def test_record_row_labels_the_completion_and_dense_sids(toy_sidmap):
    tokenizer, sid_ids = _tokenizer(toy_sidmap)
    sid = toy_sidmap.sid_text("3")
    record = {"prompt": [{"role": "user", "content": f"History: {toy_sidmap.sid_text('1')} {toy_sidmap.sid_text('2')}"}],
              "completion": [{"role": "assistant", "content": sid}]}
    plain, dense = record_row(tokenizer, record), record_row(tokenizer, record, sid_ids)
    assert plain["input_ids"] == dense["input_ids"]
    trained = [t for t, lab in zip(plain["input_ids"], plain["labels"]) if lab != IGNORE]
    assert tokenizer.decode(trained).startswith(sid)  # the completion (and the template's end of turn)
    prompt_len = plain["labels"].index(next(lab for lab in plain["labels"] if lab != IGNORE))
    dense_prompt = [t for t, lab in zip(dense["input_ids"][:prompt_len], dense["labels"][:prompt_len]) if lab != IGNORE]
    assert dense_prompt == [t for t in plain["input_ids"][:prompt_len] if t in sid_ids]
    assert len(dense_prompt) == 6  # two 3-level SIDs in the history


def test_a_candidate_list_record_trains_its_answer_alone(toy_sidmap, toy_dataset):
    """A pick-from-the-list record (task 8): neither the candidates' SIDs (a seeded random list is no
    sequence to predict) nor the history's (task 1's job, 20x the answer's weight in the loss) are
    labeled, dense labels or not: the answer is, and nothing before it."""
    from core.llm.prompts import candidate_messages

    tokenizer, sid_ids = _tokenizer(toy_sidmap)
    history, candidates = ["1", "2", "3"], ["9", "4", "7", "5"]
    prompt, _ = candidate_messages(toy_sidmap, toy_dataset, history, candidates)
    record = {"prompt": prompt, "completion": [{"role": "assistant", "content": toy_sidmap.sid_text("7")}]}
    row, plain = record_row(tokenizer, record, sid_ids), record_row(tokenizer, record)
    assert row == plain
    labeled = [t for t, lab in zip(row["input_ids"], row["labels"]) if lab != IGNORE and t in sid_ids]
    assert labeled == tokenizer.convert_tokens_to_ids(toy_sidmap.sid_tokens("7"))


def test_facts_row_trains_the_answers_only(toy_sidmap):
    tokenizer, _ = _tokenizer(toy_sidmap)
    facts = [Fact("1", "sid->title", f"Title of {toy_sidmap.sid_text('1')}:", " Movie 1 (1991)\n"),
             Fact("2", "title->sid", "SID of Movie 2 (1992):", toy_sidmap.sid_text("2") + "\n")]
    row = facts_row(tokenizer, facts)
    assert tokenizer.decode(row["input_ids"]) == "".join(f.prompt + f.answer for f in facts)
    trained = [t for t in row["labels"] if t != IGNORE]
    assert tokenizer.decode(trained) == "".join(f.answer for f in facts)
    assert len(build_rows(tokenizer, [], [facts, facts[:1]])) == 2
