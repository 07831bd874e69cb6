"""Text conditions of a video, kept per video or per frame and expanded only for the frames a UNet
call sees."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch


@dataclass(frozen=True)
class FrameConditions:
    """Text conditions of a batch of videos.

    Attributes:
        anchor: (B, F, L, D) per frame, or (B, 1, L, D) when every frame has the same condition.
            With PromptBlend these are the anchor conditions (each frame's segment prompt).
        negative: (B, 1, L, D) classifier-free-guidance condition, or None without guidance.
        blended: (B, F, L, D) PromptBlend's interpolated conditions, or None when the UNet is
            conditioned on ``anchor`` alone.
    """

    anchor: torch.Tensor
    negative: torch.Tensor | None = None
    blended: torch.Tensor | None = None

    def repeat_videos(self, n: int) -> FrameConditions:
        """Each video's conditions ``n`` times in a row (``num_videos_per_prompt``)."""
        if n == 1:
            return self
        repeat = lambda c: None if c is None else c.repeat_interleave(n, dim=0)  # noqa: E731
        return replace(self, anchor=repeat(self.anchor), negative=repeat(self.negative), blended=repeat(self.blended))

    def window(self, frames: list[int], blended: bool = False) -> torch.Tensor:
        """``encoder_hidden_states`` for a UNet call on ``frames``: (B * W, L, D), batch-major as
        the UNet flattens (B, C, W, H, W') latents; with guidance, the negative half first, as
        for ``torch.cat([latents] * 2)``."""
        conditions = _frames(self.blended if blended else self.anchor, frames)
        if self.negative is None:
            return conditions
        return torch.cat([_frames(self.negative, frames), conditions])


def _frames(conditions: torch.Tensor, frames: list[int]) -> torch.Tensor:
    selected = conditions.expand(-1, len(frames), -1, -1) if conditions.shape[1] == 1 else conditions[:, frames]
    return selected.reshape(-1, *conditions.shape[2:])
