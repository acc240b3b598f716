import pytest
import torch

from core.decode.logps import completion_logps
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


def test_uneven_completion_counts_are_refused(toy_sidmap):
    model, tokenizer = tiny_model()
    with pytest.raises(ValueError):
        completion_logps(model, tokenizer, ["a", "b"], [[[1]], [[1], [2]]])
    with pytest.raises(ValueError):
        completion_logps(model, tokenizer, ["a"], [[[]]])
