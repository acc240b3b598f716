"""Training rows for the SFT: corpus records and packed catalogue facts, tokenized with their labels.

The SFT hands TRL's SFTTrainer pre-tokenized rows (`input_ids`, `labels`) rather than letting it
tokenize, because two kinds of row share one run: chat-formatted corpus records (loss on the
completion, the prompt rendered by the model's own chat template exactly as at inference, see
`core.llm.prompts.render_prompt`) and packed bare catalogue facts (`core.corpus.facts`, loss on each
fact's answer), which no single TRL dataset format expresses.

`sid_ids` (dense history supervision: the SID token ids) also labels every SID token of a
record's prompt after the first token: one forward over a 20-item history trains next-SID
prediction at all 20 positions (SASRec's objective) instead of only the last. Only the history is
a sequence worth predicting, and only in the recommendation prompts: a candidate-list prompt
(task 8) is trained on its answer alone. Its SIDs after the candidate header are 20 items in a
seeded random order (labeling them taught the model to predict noise: 60 noise labels against 4
answer labels a record), and its history labels repeat task 1 while outweighing the answer ~20 to
1 in the token-averaged loss, which is what the pick task is for. The paper trains the answer only;
on a CPU budget the dense labels are ~20x the recommendation signal per token of compute.
"""
from __future__ import annotations

from core.llm.prompts import candidates_start

IGNORE = -100


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def record_row(tokenizer, record: dict, sid_ids: frozenset[int] = frozenset()) -> dict:
    """One chat record -> {"input_ids", "labels"}; SID tokens of the prompt are labels when `sid_ids` is given
    and the prompt has no candidate list."""
    prompt = tokenizer.apply_chat_template(record["prompt"], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(record["prompt"] + record["completion"], tokenize=False)
    if not full.startswith(prompt):
        raise ValueError("the chat template renders the prompt differently inside the whole conversation")
    prompt_ids, completion_ids = _ids(tokenizer, prompt), _ids(tokenizer, full[len(prompt):])
    dense = sid_ids if candidates_start(prompt) == len(prompt) else frozenset()
    labels = [t if (i > 0 and t in dense) else IGNORE for i, t in enumerate(prompt_ids)] + completion_ids
    return {"input_ids": prompt_ids + completion_ids, "labels": labels}


def facts_row(tokenizer, facts) -> dict:
    """Packed facts -> one row; the loss is on each answer (its closing newline included)."""
    ids, labels = [], []
    for fact in facts:
        prompt_ids, answer_ids = _ids(tokenizer, fact.prompt), _ids(tokenizer, fact.answer)
        ids += prompt_ids + answer_ids
        labels += [IGNORE] * len(prompt_ids) + answer_ids
    return {"input_ids": ids, "labels": labels}


def build_rows(tokenizer, records: list[dict], pages: list, sid_ids: frozenset[int] = frozenset()) -> list[dict]:
    """Rows of the records (dense history labels when `sid_ids` is given) and of the fact pages."""
    rows = [record_row(tokenizer, r, sid_ids) for r in records]
    return rows + [facts_row(tokenizer, page) for page in pages]
