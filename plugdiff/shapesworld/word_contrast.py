r"""An auxiliary training loss that makes the direction word, not the noise, set the motion.

Measured on the v5e export committed in ``training/shapesworld-t2v-v5``
(``benchmarks/results/shapesworld_direction_settling_v5e.json``, ``drift_rows``): one model call
on a noised ground-truth mover, guided at 6, predicts a clean clip whose drift along the true
direction is the same with the clip's own direction word and with the opposite one at every
timestep from 300 to 999 (+0.27 against +0.33 latent pixels at t = 750, +0.03 against +0.07 at
850; the clips themselves drift 1.59). The track loss (:mod:`.track_loss`) asks for the right
drift, but a model can meet it by reading the motion out of the noisy clip, which in training
always agrees with the caption; from pure noise it then reads a motion out of the noise, and the
word has no say.

This loss asks what the word alone must decide. On the same noisy clip :math:`z_t` the model is
run a second time with every direction word of the caption (and of its mix's other end) replaced
by its opposite, and the clean clip it predicts must drift the opposite way:

.. math::
    \mathcal L_\text{contrast} = \mathcal L_\text{track}\big(\operatorname{rev}(z_0),\,
    z_t,\, \hat\varepsilon_\theta(z_t, t, \bar c)\big)

where :math:`\bar c` is the caption with its direction words swapped (left and right, up and
down) and :math:`\operatorname{rev}(z_0)` is the training clip with its frames in reverse order,
whose least-squares drift is exactly :math:`-D(z_0)` on the same positions (a velocity mix of
opposite words is the opposite velocity, so this holds for mixed captions too). It is taken only
for captioned samples whose caption has a direction word to swap, at timesteps from ``min_t`` up
to the track loss's ``max_t``: where the noisy clip still shows its motion the model should
follow it, and above ``min_t`` the word should win. (A contrastive use of the caption; ours.)
"""

from __future__ import annotations

import torch

from .track_loss import track_loss

OPPOSITE_DIRECTIONS = {"left": "right", "right": "left", "up": "down", "down": "up"}
MIN_T = 750  # the v5 exports follow their noisy clip's own motion below about t = 700


def opposite_token_map(tokenizer) -> dict[int, int]:
    """Token id of each moving direction word to that of its opposite (each word must be one
    token, as in the ShapesWorld tokenizers)."""
    ids = {}
    for word in OPPOSITE_DIRECTIONS:
        tokens = tokenizer(word, add_special_tokens=False).input_ids
        if len(tokens) != 1:
            raise ValueError(f"direction word {word!r} is {len(tokens)} tokens, expected one")
        ids[word] = tokens[0]
    return {ids[a]: ids[b] for a, b in OPPOSITE_DIRECTIONS.items()}


def swap_directions(ids: torch.Tensor, mapping: dict[int, int]) -> torch.Tensor:
    """``ids`` (any shape) with every direction word's token replaced by its opposite's."""
    out = ids.clone()
    for a, b in mapping.items():
        out[ids == a] = b
    return out


def word_contrast_loss(
    z0: torch.Tensor,
    noisy: torch.Tensor,
    t: torch.Tensor,
    predict_swapped,
    alphas_cumprod: torch.Tensor,
    eligible: torch.Tensor,
    *,
    periodic: bool,
    min_t: int = MIN_T,
    max_t: int,
) -> torch.Tensor:
    """:math:`\\mathcal L_\\text{contrast}` of the module doc for clips ``z0`` (B, C, F, h, w),
    their noisy versions at timesteps ``t`` (B,), or (B, F) with a level per frame, and
    ``eligible`` (B,) marking the captioned samples whose caption has a direction word to swap.
    ``predict_swapped(index, noisy, t)`` runs the model on the samples ``index`` (a 1-D index
    tensor) with the swapped caption; it is called only when some sample qualifies
    (``min_t <= t <= max_t`` in every frame). 0 with a gradient path otherwise."""
    low, high = (t, t) if t.ndim == 1 else (t.amin(1), t.amax(1))  # a level per frame: all of them
    keep = eligible & (low >= min_t) & (high <= max_t)
    if not keep.any():
        return noisy.sum() * 0.0
    index = keep.nonzero().squeeze(1)
    eps = predict_swapped(index, noisy[index], t[index])
    everyone = torch.ones(len(index), dtype=torch.bool, device=noisy.device)
    return track_loss(
        z0[index].flip(2), noisy[index], t[index], eps, alphas_cumprod, everyone, periodic=periodic, max_t=max_t
    )
