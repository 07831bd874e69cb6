"""Per-frame prompt weights of a multi-prompt video: anchor and blended conditions as linear
mixtures of the key-frame prompt embeddings.

Prompt i is fully reached at its key frame :math:`k_i` and holds until the transition towards
prompt i+1, which spans the last T frames before :math:`k_{i+1}`: with
:math:`e_i = k_{i+1} - T`, frame n in :math:`[e_i, k_{i+1}]` gets

.. math:: a_n = \\frac{n - e_i}{k_{i+1} - e_i}, \\qquad
          \\text{blended}_n = (1 - a_n)\\, P_i + a_n\\, P_{i+1}

and its anchor is :math:`P_i` (the prompt of the segment :math:`[k_i, k_{i+1})` it lies in).
PromptBlend (Li et al., arXiv 2412.17254) writes it with segment ends :math:`e_i` and starts
:math:`s_{i+1} = k_{i+1}`. A transition over the whole gap (T = k_{i+1} - k_i) is diffusers'
FreeNoise linear interpolation between key frames.
"""

from __future__ import annotations

import numbers

import torch

from ...attention_processors.promptblend_settings import check_transition


def transition_frames(gap: int, transition: int | float) -> int:
    """T for two key frames ``gap`` frames apart: frames (capped at gap) or round(fraction *
    gap), at least 1 (1 = a cut)."""
    if isinstance(transition, numbers.Integral):
        return min(int(transition), gap)
    return max(1, min(gap, round(transition * gap)))


def frame_mixing(key_frames: list[int], num_frames: int, transition: int | float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixing weights of the key-frame prompts for every frame.

    Args:
        key_frames: increasing key frames starting at 0, all < ``num_frames``.
        num_frames: frames in the video.
        transition: see :class:`~plugdiff.attention_processors.promptblend_settings.PromptBlendSettings`.

    Returns:
        (anchor, blended), each (num_frames, num_prompts) with rows summing to 1: one-hot of the
        frame's segment, and the transition weights (1 - a, a) on (P_i, P_{i+1}).
    """
    check_transition(transition)
    anchor = torch.zeros(num_frames, len(key_frames), dtype=torch.float64)
    ends = [*key_frames[1:], num_frames]
    for i, (start, end) in enumerate(zip(key_frames, ends)):
        anchor[start:end, i] = 1.0
    blended = anchor.clone()
    for i, (start, end) in enumerate(zip(key_frames[:-1], key_frames[1:])):
        length = transition_frames(end - start, transition)
        a = torch.arange(1, length, dtype=torch.float64) / length  # frames e_i + 1 .. k_{i+1} - 1
        frames = slice(end - length + 1, end)
        blended[frames, i] = 1.0 - a
        blended[frames, i + 1] = a
    return anchor, blended


def mix(weights: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
    """Per-frame conditions ``sum_p weights[f, p] embeddings[p]``: (F, P) x (P, L, D) -> (F, L, D),
    in the embeddings' dtype. A frame whose weights are one-hot gets the prompt's embedding
    exactly."""
    mixed = torch.einsum("fp,pld->fld", weights.to(device=embeddings.device, dtype=torch.float32), embeddings.float())
    return mixed.to(embeddings.dtype)
