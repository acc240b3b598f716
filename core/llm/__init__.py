"""The LM layer: the pretrained backbone (`backbone`), SID tokens in its vocabulary (`sid_tokens`),
LoRA adapters and checkpoints that remember their SID map (`adapter`), the canonical
recommendation prompt (`prompts`) and a tiny random model with the real tokenizer for tests (`tiny`)."""
