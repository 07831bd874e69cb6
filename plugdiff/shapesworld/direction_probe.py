r"""An auxiliary training loss that makes the text's direction word reach the motion modules.

In an AnimateDiff UNet the caption enters only through the *spatial* cross-attention, one frame
at a time; the motion modules see no text. A single frame shows no motion, so after the
single-frame stage the cross-attention has learned to ignore the direction word, and the motion
modules cannot use what is not in their input: the path text -> cross-attention -> motion module
starts at a saddle (each half gets a gradient only once the other half works). Measured on the
bundled v2 model: with one seed, the five direction words give the same motion to 0.1 pixel.

The probe breaks the saddle from the text side. For each probed spatial transformer ``l`` (the
last one of every down block, before that block's motion module) a linear head reads the
per-frame feature map :math:`h_l \in \mathbb R^{C_l \times h \times w}` averaged over space and
classifies the caption's direction :math:`d`:

.. math::
    \mathcal L_\text{probe} = \frac{1}{L} \sum_l \operatorname{CE}\big(W_l\, \overline{h_l} + b_l,\ d\big),

averaged over the frames of captioned samples (empty-prompt samples are skipped). Training adds
``weight * L_probe`` to the denoising loss; the heads are not part of the exported model. A
single frame cannot show its direction, so the only way to lower this loss is to carry the word
from the text into the features that the motion modules read. (An auxiliary classifier on
intermediate features, as in deep supervision; the use here is ours.)
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from .world import DIRECTIONS


class DirectionProbe(nn.Module):
    """Linear direction heads on the outputs of the last spatial transformer of every down block
    of a ``UNetMotionModel`` (or ``UNet2DConditionModel``). :meth:`attach` hooks them on to the
    model being trained; :meth:`loss` reads what its last forward pass produced."""

    def __init__(self, unet: nn.Module):
        super().__init__()
        channels = [layer.config.in_channels for layer in _probed_layers(unet)]
        self.heads = nn.ModuleList(nn.Linear(c, len(DIRECTIONS)) for c in channels)
        self._features: list[torch.Tensor] = []
        self._paused = False

    @contextmanager
    def paused(self):
        """Forward passes inside this block are not probed (a second pass on the same batch)."""
        self._paused = True
        try:
            yield
        finally:
            self._paused = False

    def attach(self, unet: nn.Module) -> None:
        for layer in _probed_layers(unet):
            layer.register_forward_hook(self._keep)

    def _keep(self, module, args, output) -> None:
        features = output[0] if isinstance(output, tuple) else output.sample
        if torch.is_grad_enabled() and not self._paused:
            self._features.append(features.float().mean(dim=(2, 3)))  # (B * F, C)

    def loss(self, directions: torch.Tensor, frames: int, captioned: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of every head against ``directions`` (B,) indices into ``DIRECTIONS``,
        over the ``frames`` frames of the samples where ``captioned`` (B,) is true; clears the
        kept features."""
        features, self._features = self._features, []
        if len(features) != len(self.heads):
            raise RuntimeError(
                f"expected {len(self.heads)} probed features from one forward pass, got {len(features)}"
            )
        keep = captioned.repeat_interleave(frames)
        target = directions.repeat_interleave(frames)[keep]
        if not keep.any():
            return features[0].sum() * 0.0
        losses = [
            nn.functional.cross_entropy(head(f[keep]), target) for head, f in zip(self.heads, features, strict=True)
        ]
        return torch.stack(losses).mean()


def _probed_layers(unet: nn.Module) -> list[nn.Module]:
    layers = [block.attentions[-1] for block in unet.down_blocks if getattr(block, "attentions", None)]
    if not layers:
        raise ValueError("the UNet has no cross-attention down block to probe")
    return layers
