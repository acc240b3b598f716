from collections import Counter

import pytest
import torch

from core.data.split import Split
from core.errors import SidLensError
from core.train.negatives import excluded_items, sample_negatives


@pytest.fixture
def split(toy_dataset):
    return Split(toy_dataset, window=5)


@pytest.mark.parametrize("sampler", ["random", "popularity"])
def test_negatives_are_distinct_seeded_and_never_seen(split, sampler):
    examples = split.examples("train")
    first = sample_negatives(sampler, split, examples, 3, seed=7)
    assert first == sample_negatives(sampler, split, examples, 3, seed=7)
    assert first != sample_negatives(sampler, split, examples, 3, seed=8)
    for ex, negs in zip(examples, first):
        assert len(set(negs)) == 3
        assert ex.target not in negs and not set(negs) & set(split.train_items(ex.user_id))


def test_popularity_favours_items_with_more_training_interactions(split):
    examples = split.examples("train") * 20
    counts = Counter(i for negs in sample_negatives("popularity", split, examples, 2, seed=0) for i in negs)
    popularity = Counter(i for u in split.sequences for i in split.train_items(u))
    never_trained = set(split.dataset.items) - set(popularity)
    assert not never_trained & set(counts)  # weight 0: never drawn
    popular = [i for i in counts if popularity[i] == max(popularity.values())]
    rare = [i for i in counts if popularity[i] == 1]
    assert popular and rare
    assert min(counts[i] for i in popular) > max(counts[i] for i in rare)


def test_hard_negatives_come_from_the_beam_without_target_or_seen(split, toy_sidmap):
    from core.decode.trie import SidTrie
    from core.llm.prompts import recommendation_messages, render_prompt
    from core.llm.sid_tokens import add_sid_tokens
    from core.llm.tiny import tiny_model

    model, tokenizer = tiny_model()
    new_ids = add_sid_tokens(model, tokenizer, toy_sidmap)
    with torch.no_grad():  # distinct SID rows: mean-resized rows give near-ties whose order is float noise
        rows = torch.randn(len(new_ids), model.config.hidden_size, generator=torch.Generator().manual_seed(0))
        model.get_input_embeddings().weight[new_ids] = rows
    trie = SidTrie(toy_sidmap, tokenizer)
    examples = split.examples("train")[:6]
    prompts = [render_prompt(tokenizer, recommendation_messages(toy_sidmap, split.dataset, ex.history)[0])
               for ex in examples]
    negs = sample_negatives("hard", split, examples, 4, model=model, tokenizer=tokenizer, trie=trie, prompts=prompts,
                            batch_size=4)
    assert [len(set(n)) for n in negs] == [4] * 6
    for ex, n in zip(examples, negs):
        assert not set(n) & excluded_items(split, ex)
    # they are the model's best remaining items, in its order
    from core.decode.beam import constrained_topk
    best = constrained_topk(model, tokenizer, trie, prompts[:4], k=4, num_beams=10, batch_size=4,
                            exclude=[excluded_items(split, ex) for ex in examples[:4]])
    assert negs[:4] == [[r.item_id for r in rec] for rec in best]


def test_bad_requests_name_the_problem(split):
    examples = split.examples("train")[:2]
    with pytest.raises(SidLensError, match="sampler"):
        sample_negatives("nearest", split, examples, 1)
    with pytest.raises(SidLensError, match="at least 1"):
        sample_negatives("random", split, examples, 0)
    with pytest.raises(SidLensError, match="fewer than"):
        sample_negatives("random", split, examples, 33)  # 40 items - 8 training items of the user
