from __future__ import annotations

import pytest

from core.decode.inputs import pad_left, shared_prefix_length, tokenize_prompts
from core.errors import SidLensError


def test_shared_prefix_leaves_every_row_one_own_token():
    assert shared_prefix_length([[1, 2, 3], [1, 2, 4, 5]]) == 2
    assert shared_prefix_length([[1, 2, 3], [1, 2, 3, 4]]) == 2
    assert shared_prefix_length([[1, 2, 3]]) == 2
    assert shared_prefix_length([[1], [1, 2]]) == 0


def test_pad_left_aligns_ends_and_counts_positions_from_the_offset():
    batch = pad_left([[7, 8, 9], [5]], pad=0, offset=4)
    assert batch["input_ids"].tolist() == [[7, 8, 9], [0, 0, 5]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    assert batch["position_ids"][:, -1].tolist() == [6, 4]


def test_empty_prompts_are_refused():
    with pytest.raises(SidLensError, match="no prompts"):
        tokenize_prompts(None, [])
    with pytest.raises(SidLensError, match="empty prompt"):
        tokenize_prompts(None, ["fine", ""])


def test_stop_tokens_join_the_tokenizers_and_the_generation_configs():
    from core.decode.inputs import stop_token_ids
    from core.llm.tiny import tiny_model

    model, tokenizer = tiny_model()
    end_of_turn, end_of_text = tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    model.generation_config.eos_token_id = [end_of_turn, end_of_text]
    stops = stop_token_ids(model, tokenizer)
    assert {end_of_turn, end_of_text, tokenizer.eos_token_id, tokenizer.pad_token_id} == stops
    model.generation_config.eos_token_id = None  # a config without one: the tokenizer's still end replies
    assert stop_token_ids(model, tokenizer) == {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}
