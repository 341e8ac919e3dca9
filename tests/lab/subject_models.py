"""A tiny GPT-2 with random weights and a word-level tokenizer over the synthetic language's words (and a few more),
written with save_pretrained: the lab's `hf/<folder>` subject in tests, no downloads."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from proctor.lab._autointerp import WORDS

EXTRA = ["[UNK]", "[PAD]", "zero", "seven", "eight", "nine", "ten", "blue-green"]


def write_tiny_gpt2(folder: Path, seed: int = 0) -> Path:
    """A 2-layer GPT-2 (width 32, MLP 4×32) over WORDS + EXTRA; returns `folder`."""
    vocabulary = {word: i for i, word in enumerate([*EXTRA, *WORDS])}
    backend = Tokenizer(models.WordLevel(vocab=vocabulary, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]")
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(vocabulary),
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=2,
        initializer_range=0.3,
        pad_token_id=1,
        eos_token_id=1,
        bos_token_id=1,
    )
    model = GPT2LMHeadModel(config)
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder
