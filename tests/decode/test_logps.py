import pytest
import torch

from core.decode.logps import completion_logps, grouped_token_logps
from core.llm.sid_tokens import add_sid_tokens
from core.llm.tiny import tiny_model
from tests.decode.conftest import toy_sidmap as make_sidmap


@pytest.fixture
def toy_sidmap():
    return make_sidmap(40)


def concatenated_logps(model, tokenizer, prompt: str, ids: list[int]) -> torch.Tensor:
    """The plain computation: prompt + completion as one sequence, log-probs of the completion tokens."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    full = torch.tensor([prompt_ids + ids])
    logp = torch.log_softmax(model(full).logits.float(), dim=-1)[0]
    start = len(prompt_ids)
    return sum(logp[start - 1 + j, t] for j, t in enumerate(ids))


def test_shared_prompt_equals_concatenation_in_value_and_gradient(toy_sidmap):
    model, tokenizer = tiny_model()
    add_sid_tokens(model, tokenizer, toy_sidmap)
    model.train()
    prompts = ["A short prompt", "A much longer prompt with several more words in it"]
    def sid(item):
        return tokenizer.convert_tokens_to_ids(toy_sidmap.sid_tokens(item)) + [tokenizer.eos_token_id]

    completions = [[sid("1"), sid("2"), tokenizer("hi there", add_special_tokens=False)["input_ids"]],
                   [sid("3"), [tokenizer.eos_token_id], sid("4")]]
    weights = torch.tensor([[1.0, -2.0, 0.5], [0.3, 1.5, -1.0]])

    shared = completion_logps(model, tokenizer, prompts, completions)
    (shared * weights).sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    plain = torch.stack([torch.stack([concatenated_logps(model, tokenizer, p, ids) for ids in c])
                         for p, c in zip(prompts, completions)])
    (plain * weights).sum().backward()

    assert shared.shape == (2, 3)
    torch.testing.assert_close(shared, plain, rtol=1e-4, atol=1e-4)
    assert grads and all(torch.allclose(grads[n], p.grad, rtol=1e-3, atol=1e-5)
                         for n, p in model.named_parameters() if p.grad is not None)


def test_last_tokens_alone_are_summed_after_the_rest_as_context(toy_sidmap):
    # `last`: a reasoning before the SID is context, only the SID's tokens are scored
    model, tokenizer = tiny_model()
    prompt = "A prompt"
    completions = [[40, 41, 42, 43, 44], [50, 51, 52], [60, 61, 62, 63]]
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        got = completion_logps(model, tokenizer, [prompt], [completions], last=3)[0]
        full = completion_logps(model, tokenizer, [prompt], [completions])[0]
        for j, ids in enumerate(completions):
            logp = torch.log_softmax(model(torch.tensor([prompt_ids + ids])).logits.float(), dim=-1)[0]
            start = len(prompt_ids) + len(ids) - 3
            expected = sum(logp[start - 1 + k, t] for k, t in enumerate(ids[-3:]))
            torch.testing.assert_close(got[j], expected, rtol=1e-4, atol=1e-4)
    assert got[1] == pytest.approx(full[1].item(), abs=1e-4) and abs(got[0] - full[0]) > 1e-3
    with pytest.raises(ValueError, match="at least last=4 tokens"):
        completion_logps(model, tokenizer, [prompt], [completions], last=4)


def test_uneven_completion_counts_are_refused(toy_sidmap):
    model, tokenizer = tiny_model()
    with pytest.raises(ValueError):
        completion_logps(model, tokenizer, ["a", "b"], [[[1]], [[1], [2]]])
    with pytest.raises(ValueError):
        completion_logps(model, tokenizer, ["a"], [[[]]])


def plain_token_logps(model, input_ids, attention_mask, completion_length, temperature):
    """The plain computation GRPO's trainer does: one forward over whole rows, the completion columns' log-probs."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits.float() / temperature
    logp = torch.log_softmax(logits[:, -completion_length - 1:-1], dim=-1)
    return logp.gather(-1, input_ids[:, -completion_length:, None]).squeeze(-1), -(logp.exp() * logp).sum(-1)


@pytest.mark.parametrize("max_rows", [None, 2])
def test_grouped_rows_equal_the_plain_forward_in_value_and_gradient(toy_sidmap, max_rows):
    model, tokenizer = tiny_model()
    model.train()
    pad = tokenizer.pad_token_id or 0
    short, long = [5, 6, 7], [8, 9, 10, 11, 12]
    # GRPO's layout, groups shuffled together: left-padded prompts, right-padded completions
    prompt_rows = [[pad, pad] + short, long, [pad, pad] + short, long, [pad, pad] + short]
    completions = [[20, 21, 22, 23], [30, 31, pad, pad], [24, 25, 26, pad], [32, 33, 34, 35], [27, pad, pad, pad]]
    input_ids = torch.tensor([p + c for p, c in zip(prompt_rows, completions)])
    prompt_mask = (torch.tensor(prompt_rows) != pad) | (torch.arange(5) >= 2)
    completion_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    attention_mask = torch.cat([prompt_mask.long(), completion_mask], dim=1)
    weights = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))

    grouped, entropy = grouped_token_logps(model, input_ids, attention_mask, 4, temperature=0.7, entropy=True,
                                           max_rows=max_rows)
    (grouped * weights * completion_mask).sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    plain, plain_entropy = plain_token_logps(model, input_ids, attention_mask, 4, 0.7)
    (plain * weights * completion_mask).sum().backward()

    real = completion_mask.bool()
    torch.testing.assert_close(grouped[real], plain[real], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(entropy[real], plain_entropy[real], rtol=1e-4, atol=1e-4)
    assert grads and all(torch.allclose(grads[n], p.grad, rtol=1e-3, atol=1e-5)
                         for n, p in model.named_parameters() if p.grad is not None)


def test_grouped_rows_need_prompt_and_completion_columns():
    model, _ = tiny_model()
    with pytest.raises(ValueError, match="at least one prompt and one completion column"):
        grouped_token_logps(model, torch.ones(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.long), 3)
