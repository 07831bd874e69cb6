"""Small CLIP text models built from configs (no download): a character-level tokenizer and a
randomly initialised (or later trained) text encoder."""

from __future__ import annotations

import string

import torch
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def char_clip_tokenizer(
    alphabet: str = string.ascii_lowercase + string.digits, model_max_length: int = 77
) -> CLIPTokenizer:
    """A CLIP tokenizer over single characters (each with and without the end-of-word mark),
    built from an in-memory vocabulary: any lower-case alphanumeric text tokenizes."""
    vocab = {BOS: 0, EOS: 1}
    for ch in alphabet:
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=model_max_length)


def clip_text_encoder(
    vocab_size: int, hidden_size: int = 32, num_layers: int = 2, num_heads: int = 4, seed: int = 0
) -> CLIPTextModel:
    """A CLIP text encoder of the given size, randomly initialised with ``seed`` (eval mode)."""
    config = CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=4 * hidden_size,
        num_attention_heads=num_heads,
        num_hidden_layers=num_layers,
        max_position_embeddings=77,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return CLIPTextModel(config).eval()
