"""SID tokens in the LM's vocabulary.

Every code of every level (`<a_0>` .. `<c_255>`, from `SidMap.all_tokens()`) becomes one added
token. They are added as NON-special tokens: `decode(..., skip_special_tokens=True)` (what TRL's
GRPO trainer hands to reward functions) keeps them, and the chat template treats them as text.

Initialising the new rows (SmolLM2 ties its embeddings, so a row is both the token's input vector
and its output vector; an untied output matrix gets the same treatment from its own rows):
- with `item_texts` (item id -> item text): the row of `<a_12>` is the mean embedding of the
  sub-tokens of the texts of all items whose SID has code 12 at level a. RQ codes cluster items by
  the embedding of that same text, so this gives each code a prior meaning ("mostly 1990s comedies")
  that the model can already read, and, as an output vector, similar logits to those words.
  Averaging over many items leaves every such mean close to the average word (pairwise cosine
  0.97-0.995 between the codes of a level on ml-100k, against 0.44 between random vocabulary rows):
  the model could not tell `<a_3>` from `<a_17>` (nor level a from level c), and after 160 LoRA steps
  the next-code loss at levels b and c was still uniform. So each row also gets a seeded sample of
  N(0, vocabulary covariance), the spread of a real word around the mean (pairwise cosine then
  ~0.6), and is rescaled to the vocabulary's mean norm so new tokens are neither drowned out nor
  dominant. Same 40 steps (lr 5e-3) from the two inits, 60 test users, NLL of the target per level:
  means only 3.37 / 3.31 / 3.49, with the spread 3.42 / 3.20 / 3.50, training loss 3.19 vs 3.13.
  The spread is sampled here (`_word_spread`) rather than taken from transformers' mean resizing,
  which draws the same distribution: that draw uses the global RNG (a rerun would start elsewhere)
  and spare rows that already exist (Qwen) never get one.
- without texts, or for a code no item uses: transformers' mean resizing (a sample from a normal with
  the old rows' mean and covariance), which keeps the first-step logits of the new tokens near the
  vocabulary average instead of random.
Measured on ml-100k before the spread was added (means only; SmolLM2-135M, RQ-KMeans 32x32x32, 32
validation users, cross-entropy per SID token of the target; uniform over one level's codes would
be 3.47): title init 5.44 before training
and 4.49 after 20 LoRA steps (batch 4, lr 1e-3), mean resizing 17.85 and 8.85. Mean rows start far
below the ordinary words in the softmax and spend the first steps only climbing out of it.
MiniOneRec/LC-Rec leave the rows at random init; here the prior is cheap (a second) and shortens
the start of training.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Mapping

import torch

from core.errors import SidLensError
from core.sid.sidmap import SidMap, token


def add_sid_tokens(model, tokenizer, sidmap: SidMap, item_texts: Mapping[str, str] | None = None) -> list[int]:
    """Add every SID token of `sidmap`, resize the embeddings, initialise the new rows; return their ids.

    Tokens already in the vocabulary (a second call, or a tokenizer saved with them) are kept as they
    are: their ids and rows are unchanged, and only genuinely new rows are initialised. Models whose
    embedding has spare rows beyond the tokenizer (Qwen pads to a multiple of 128) reuse them; those
    rows start at the vocabulary mean, as resized ones do.
    """
    tokens = sidmap.all_tokens()
    vocab = tokenizer.get_vocab()
    fresh = [t for t in tokens if t not in vocab]
    known = len(tokenizer)  # rows below this belong to real tokens
    tokenizer.add_tokens(fresh, special_tokens=False)
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    fresh_ids = tokenizer.convert_tokens_to_ids(fresh)
    spare = [i for i in fresh_ids if i < rows]
    for weight in _embedding_weights(model):
        with torch.no_grad():
            if spare:
                weight[spare] = weight[:known].float().mean(dim=0).to(weight.dtype)
            if item_texts and fresh_ids:
                _init_from_texts(weight, tokenizer, sidmap, item_texts, set(fresh_ids), known)
    return tokenizer.convert_tokens_to_ids(tokens)


def _embedding_weights(model) -> list[torch.Tensor]:
    """The input embedding, and the output one too when it is not tied to it."""
    weights = [model.get_input_embeddings().weight]
    output = model.get_output_embeddings()
    if output is not None and output.weight is not weights[0]:
        weights.append(output.weight)
    return weights


def sid_token_ids(tokenizer, sidmap: SidMap) -> list[list[int]]:
    """Per level, the token id of each code (`result[level][code]`), for decoding and rewards."""
    vocab = tokenizer.get_vocab()
    missing = [t for t in sidmap.all_tokens() if t not in vocab]
    if missing:
        raise SidLensError(f"tokenizer lacks {len(missing)} SID tokens (first {missing[0]}): "
                           "call add_sid_tokens or load a checkpoint trained with this SID map")
    return [[vocab[token(level, code)] for code in range(size)] for level, size in enumerate(sidmap.codebook_sizes)]


def _init_from_texts(weight: torch.Tensor, tokenizer, sidmap: SidMap, item_texts: Mapping[str, str],
                     fresh_ids: set[int], known: int) -> None:
    """Each fresh SID row := mean over its items of (mean row of the item text's sub-tokens), at the mean norm."""
    old = weight[:known].float()
    target_norm = old.norm(dim=1).mean()
    members: dict[tuple[int, int], list[str]] = defaultdict(list)
    for item_id, codes in sidmap.codes.items():
        if item_id in item_texts:
            for level, code in enumerate(codes):
                members[(level, code)].append(item_id)
    item_ids = sorted({i for ids in members.values() for i in ids})
    encoded = tokenizer([item_texts[i] for i in item_ids], add_special_tokens=False)["input_ids"]
    item_means = {i: old[[t for t in sub if t < known]].mean(dim=0)
                  for i, sub in zip(item_ids, encoded) if any(t < known for t in sub)}
    vocab = tokenizer.get_vocab()
    spread = _word_spread(old, len(members))
    for n, ((level, code), items) in enumerate(sorted(members.items())):
        row = vocab[token(level, code)]
        vecs = [item_means[i] for i in items if i in item_means]
        if row in fresh_ids and vecs:
            mean = torch.stack(vecs).mean(dim=0)
            mixed = mean * target_norm / mean.norm().clamp_min(1e-8) + spread[n]
            weight[row] = (mixed * target_norm / mixed.norm().clamp_min(1e-8)).to(weight.dtype)


def _word_spread(old: torch.Tensor, count: int, seed: int = 0) -> torch.Tensor:
    """`count` seeded samples of N(0, covariance of the vocabulary rows): how far a word lies from the mean."""
    centered = old - old.mean(dim=0)
    cov = centered.T @ centered / (len(old) - 1)
    chol = torch.linalg.cholesky(cov + 1e-6 * torch.eye(cov.shape[0]))
    z = torch.randn(count, cov.shape[0], generator=torch.Generator().manual_seed(seed))
    return z @ chol.T
