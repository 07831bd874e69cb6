"""Slot-wise token alignment of a schedule's prompts (PromptBlend, Li et al., arXiv 2412.17254).

For every slot k (head, subject, action, time, place, style, tail), :math:`M_k = \\max_p |s_{p,k}|`
over the prompts p; each prompt's slot is brought to :math:`M_k` tokens by repeating its *own*
tokens cyclically (a slot empty in this prompt but not in others is filled with the pad token).
The slots are concatenated in order between BOS and EOS and padded to the encoder's length, so
token position j holds the same slot in every prompt and interpolating two prompt embeddings
blends subject with subject and place with place. If the aligned prompt does not fit the
encoder, the longest slots are shortened first, one token at a time, with a warning.
"""

from __future__ import annotations

import warnings

import torch

from .prompt_schedule import PromptSchedule
from .prompt_slots import SLOTS

SLOT_ORDER = ("head", *SLOTS, "tail")


def cyclic(tokens: list[int], length: int, fill: int) -> list[int]:
    """``tokens`` repeated cyclically (or cut) to ``length``; ``fill`` repeated if it is empty."""
    if not tokens:
        return [fill] * length
    return [tokens[i % len(tokens)] for i in range(length)]


def align_slots(
    token_slots: list[list[list[int]]], max_tokens: int, fill: int, names=SLOT_ORDER
) -> tuple[list[list[int]], list[int]]:
    """Align prompts slot by slot.

    Args:
        token_slots: ``token_slots[p][k]``, the token ids of slot k of prompt p (no BOS / EOS).
        max_tokens: the most tokens the aligned prompt may have (encoder length minus BOS, EOS).
        fill: token id for a slot that is empty in a prompt but not in all.
        names: slot names, for the warning.

    Returns:
        (the aligned token ids of every prompt, all of the same length; the per-slot lengths).
        When the longest-per-slot lengths sum to more than ``max_tokens``, the currently longest
        slot (the later one on ties, so the subject goes last) loses one token until they fit,
        and a ``UserWarning`` names what was shortened.
    """
    lengths = [max(len(prompt[k]) for prompt in token_slots) for k in range(len(token_slots[0]))]
    wanted = list(lengths)
    while sum(lengths) > max_tokens:
        longest = max(lengths)
        k = len(lengths) - 1 - lengths[::-1].index(longest)
        lengths[k] -= 1
    if lengths != wanted:
        cut = ", ".join(
            f"{names[k]} {wanted[k]} -> {lengths[k]}" for k in range(len(lengths)) if lengths[k] != wanted[k]
        )
        warnings.warn(
            f"the aligned prompts need {sum(wanted)} tokens but the text encoder takes {max_tokens} besides BOS/EOS; "
            f"shortened the longest slots (tokens per slot: {cut}). Shorten the prompts to keep every word.",
            UserWarning,
            stacklevel=3,
        )
    aligned = [[t for k, slot in enumerate(prompt) for t in cyclic(slot, lengths[k], fill)] for prompt in token_slots]
    return aligned, lengths


def aligned_input_ids(tokenizer, schedule: PromptSchedule) -> torch.Tensor:
    """Token ids (num_prompts, model_max_length) of the schedule's prompts, aligned slot by slot:
    BOS, the aligned slots, EOS, then pad tokens."""
    max_length = tokenizer.model_max_length
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    token_slots = [
        [tokenizer(text, add_special_tokens=False).input_ids if text else [] for text in prompt]
        for prompt in schedule.slot_texts()
    ]
    aligned, _ = align_slots(token_slots, max_length - len(bos) - len(eos), tokenizer.pad_token_id)
    rows = [bos + ids + eos for ids in aligned]
    return torch.tensor([row + [tokenizer.pad_token_id] * (max_length - len(row)) for row in rows])
