import pytest
import torch

from core.errors import SidLensError
from core.llm.sid_tokens import add_sid_tokens, sid_token_ids
from core.llm.tiny import tiny_model

TEXT = "I watched Toy Story (1995) and then something else."


def test_sid_tokens_are_single_ordinary_tokens(toy_sidmap):
    model, tokenizer = tiny_model()
    before_ids = tokenizer(TEXT).input_ids
    old_rows = model.get_input_embeddings().weight.detach().clone()
    ids = add_sid_tokens(model, tokenizer, toy_sidmap)

    assert len(ids) == len(toy_sidmap.all_tokens()) == 8 + 8 + 4
    assert ids == list(range(old_rows.shape[0], old_rows.shape[0] + len(ids)))
    assert tokenizer("<a_5>").input_ids == [tokenizer.convert_tokens_to_ids("<a_5>")]
    assert tokenizer(TEXT).input_ids == before_ids
    emb = model.get_input_embeddings().weight
    assert emb.shape[0] == len(tokenizer)
    assert torch.equal(emb[: old_rows.shape[0]], old_rows)
    assert model.lm_head.weight is emb  # still tied after resizing
    sid = toy_sidmap.sid_text("13")
    encoded = tokenizer(sid).input_ids
    assert len(encoded) == 3
    assert tokenizer.decode(encoded, skip_special_tokens=True) == sid  # survives GRPO's decode


def test_second_call_keeps_ids_and_rows(toy_sidmap):
    model, tokenizer = tiny_model()
    ids = add_sid_tokens(model, tokenizer, toy_sidmap)
    rows = model.get_input_embeddings().weight.detach().clone()
    assert add_sid_tokens(model, tokenizer, toy_sidmap) == ids
    assert torch.equal(model.get_input_embeddings().weight, rows)


def test_sid_token_ids_per_level(toy_sidmap):
    model, tokenizer = tiny_model()
    with pytest.raises(SidLensError, match="lacks 20 SID tokens"):
        sid_token_ids(tokenizer, toy_sidmap)
    add_sid_tokens(model, tokenizer, toy_sidmap)
    per_level = sid_token_ids(tokenizer, toy_sidmap)
    assert [len(x) for x in per_level] == [8, 8, 4]
    assert tokenizer.convert_ids_to_tokens(per_level[1][3]) == "<b_3>"


def test_title_initialisation_points_rows_at_their_items_words(toy_sidmap):
    """<a_k> starts nearest the words of the items with code k at level a, at the vocabulary's norm,
    yet the rows of a level stay distinct (a seeded word-like spread) and the text-initialised rows are reproducible."""
    model, tokenizer = tiny_model()
    words = ["comedy", "horror", "western", "romance", "science", "musical", "war", "crime"]
    texts = {item: f"{words[codes[0]]} film" for item, codes in toy_sidmap.codes.items()}
    add_sid_tokens(model, tokenizer, toy_sidmap, item_texts=texts)
    emb = model.get_input_embeddings().weight.detach()
    vocab_norm = emb[: len(tokenizer) - 20].norm(dim=1).mean()
    expected = torch.stack([emb[tokenizer(f"{w} film", add_special_tokens=False).input_ids].mean(dim=0) for w in words])
    rows = emb[tokenizer.convert_tokens_to_ids([f"<a_{code}>" for code in range(len(words))])]
    similarity = torch.nn.functional.normalize(rows, dim=1) @ torch.nn.functional.normalize(expected, dim=1).T
    assert similarity.argmax(dim=1).tolist() == list(range(len(words)))
    assert rows.norm(dim=1) == pytest.approx([vocab_norm.item()] * len(words), rel=1e-4)

    def mean_pairwise_cosine(x):
        unit = torch.nn.functional.normalize(x, dim=1)
        return ((unit @ unit.T).sum() - len(x)) / (len(x) * (len(x) - 1))

    assert mean_pairwise_cosine(rows) < mean_pairwise_cosine(expected) - 0.1
    again, tokenizer2 = tiny_model()
    add_sid_tokens(again, tokenizer2, toy_sidmap, item_texts=texts)
    rows_again = again.get_input_embeddings().weight.detach()[tokenizer2.convert_tokens_to_ids(
        [f"<a_{code}>" for code in range(len(words))])]
    assert torch.equal(rows_again, rows)


def test_spare_embedding_rows_are_reused_and_initialised(toy_sidmap):
    """Like Qwen, whose embedding has more rows than its tokenizer has tokens."""
    model, tokenizer = tiny_model()
    known = len(tokenizer)
    model.resize_token_embeddings(known + 64, mean_resizing=False)
    with torch.no_grad():
        model.get_input_embeddings().weight[known:] = 0.0
    ids = add_sid_tokens(model, tokenizer, toy_sidmap)
    emb = model.get_input_embeddings().weight.detach()
    assert emb.shape[0] == known + 64 and max(ids) < known + 64
    mean = emb[:known].mean(dim=0)
    assert all(torch.allclose(emb[i], mean) for i in ids)


def test_untied_output_rows_get_the_same_initialisation(toy_sidmap):
    model, tokenizer = tiny_model(tied=False)
    texts = {item: "comedy film" for item in toy_sidmap.codes}
    ids = add_sid_tokens(model, tokenizer, toy_sidmap, item_texts=texts)
    sub = tokenizer("comedy film", add_special_tokens=False).input_ids
    for weight in (model.get_input_embeddings().weight, model.get_output_embeddings().weight):
        expected = weight[sub].mean(dim=0).detach()
        others = weight[: len(tokenizer) - len(ids)].detach()
        closeness = torch.cosine_similarity(weight[ids[0]].detach(), expected, dim=0)
        assert closeness > torch.cosine_similarity(others, weight[ids[0]].detach()[None], dim=1).median() + 0.2
