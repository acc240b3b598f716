import os

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from core.data.schema import Dataset, Item
from core.errors import SidLensError
from core.llm.embed import LmEncoder
from core.sid.embed import cache_path, item_embeddings, minilm_path

ITEMS = [Item("1", "Toy Story", 1995, ("Animation", "Comedy")), Item("2", "Toy Story 2", 1999, ("Animation", "Comedy")),
         Item("3", "Schindler's List", 1993, ("Drama", "War")), Item("4", "Alien", 1979, ("Horror", "Sci-Fi"))]


def _dataset(items=ITEMS, name="toy"):
    return Dataset(name, {x.item_id: x for x in items}, {}, {})


def _age(path):
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # mark the file as old: a rewrite changes it


def test_minilm_embeddings_are_normalised_semantic_and_cached():
    ds = _dataset()
    x = item_embeddings(ds)
    assert x.shape == (4, 384) and np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    sims = x @ x[0]
    assert sims[1] > sims[2] and sims[1] > sims[3]  # the sequel is nearest to the original
    path = cache_path("toy", "minilm")
    _age(path)
    assert np.array_equal(item_embeddings(ds), x) and path.stat().st_mtime_ns == 1_000_000_000  # reused

    changed = _dataset([Item("1", "Heat", 1995, ("Action",)), *ITEMS[1:]])
    y = item_embeddings(changed)
    assert path.stat().st_mtime_ns != 1_000_000_000  # a changed item text invalidates the cache
    assert not np.allclose(y[0], x[0]) and np.allclose(y[1:], x[1:], atol=1e-5)


@pytest.fixture(scope="module")
def tiny_lm():
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    config = LlamaConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, pad_token_id=tokenizer.pad_token_id)
    return LlamaForCausalLM(config).eval(), tokenizer


def test_lm_encoder_is_cached_separately(tiny_lm):
    x = item_embeddings(_dataset(), "lm", lm=LmEncoder(tiny_lm))
    assert x.shape == (4, 32) and cache_path("toy", "lm").exists()
    assert item_embeddings(_dataset(), "lm", lm=LmEncoder(tiny_lm)).shape == (4, 32)
    with pytest.raises(SidLensError, match="encoder lm needs the LM"):
        item_embeddings(_dataset(), "lm", refresh=True)
    with pytest.raises(SidLensError, match="unknown encoder"):
        item_embeddings(_dataset(), "word2vec")
    with pytest.raises(SidLensError, match="no items"):
        item_embeddings(_dataset([], name="empty"))
