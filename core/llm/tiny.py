"""A tiny, randomly initialised Llama with the REAL tokenizer, for fast tests across the project.

Tests of decoding, training and the app need a model that runs in milliseconds, but they must see
the tokenizer and chat template users get (added SID tokens, left padding, `<|im_start|>` turns),
otherwise they test something else. So: the architecture of SmolLM2 shrunk to 2 layers of width 64
with tied embeddings, and the tokenizer of the converted embedded model (or of `vocab_from`).
"""
from __future__ import annotations

import torch

from core.llm.backbone import prepare_tokenizer, resolve_base


def tiny_model(vocab_from: str = "smollm2", seed: int = 0, layers: int = 2, hidden: int = 64, tied: bool = True):
    """(model, tokenizer): a seeded random LlamaForCausalLM in fp32 on CPU, in eval mode.

    `vocab_from` is "smollm2" (the embedded model, converted on first use) or any base model
    `load_base` accepts, whose tokenizer is used. `tied=False` mimics larger bases (Qwen3-4B and up)
    whose output embedding is a separate matrix.
    """
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    source, local_only = resolve_base(None if vocab_from == "smollm2" else vocab_from)
    tokenizer = prepare_tokenizer(AutoTokenizer.from_pretrained(source, local_files_only=local_only))
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, tie_word_embeddings=tied,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval(), tokenizer
