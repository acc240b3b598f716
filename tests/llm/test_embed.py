"""The LM as an item text encoder: padding never changes an item's vector."""
from __future__ import annotations

import numpy as np
import pytest

from core.llm.embed import LmEncoder, lm_mean_pool
from core.llm.tiny import tiny_model


@pytest.mark.parametrize("side", ["right", "left"])
def test_lm_mean_pool_ignores_padding(side):
    model, tokenizer = tiny_model()
    tokenizer.padding_side = side
    texts = ["Alien (1979). Genres: Horror, Sci-Fi", "a much longer text that forces padding of the first one"]
    together = lm_mean_pool(model, tokenizer, texts)
    alone = lm_mean_pool(model, tokenizer, texts[:1])
    assert together.shape == (2, model.config.hidden_size)
    assert np.allclose(np.linalg.norm(together, axis=1), 1, atol=1e-5)
    assert np.allclose(together[0], alone[0], atol=1e-5)
    assert not np.allclose(together[0], together[1], atol=1e-3)


def test_encoder_of_a_loaded_pair_names_its_model_and_encodes():
    model, tokenizer = tiny_model()
    encoder = LmEncoder((model, tokenizer))
    assert encoder.model_id  # the embedding cache key
    assert np.array_equal(encoder(["Heat (1995)"]), lm_mean_pool(model, tokenizer, ["Heat (1995)"]))
