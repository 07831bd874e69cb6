"""A timestep per frame through AnimateDiff's UNet, by hooks rather than a copy of its forward.

``UNetMotionModel`` embeds one timestep per video and repeats the embedding over the frames
(which the 2D layers see folded into the batch). FIFO-Diffusion needs every frame at its own
noise level, so the only change is the time embedding the down, mid and up blocks receive:
forward pre-hooks on those blocks replace their ``temb`` (``(B * F, D)``, batch-major as the UNet
folds frames) with one embedding per frame, made by the UNet's own ``time_proj`` and
``time_embedding`` (plus its added embedding, e.g. SDXL's ``text_time``, per video as diffusers
adds it). Everything else in the forward is diffusers' own. A UNet2D + ``MotionAdapter`` pair is a
``UNetMotionModel`` once the pipeline has built it, so both forms are covered.

The embedding of frame column f is computed from the (B,) timesteps of that column exactly as the
stock forward computes it from the (B,) timesteps of a call, so a call whose frames all share a
timestep is bit-identical to the stock UNet (tested).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from diffusers import UNetMotionModel


class FrameTimesteps:
    """Per-frame timesteps for one ``UNetMotionModel`` while it is installed (use
    :func:`frame_timesteps`).

    Call it like the UNet, with ``timesteps`` of shape (F,) (every video of the batch shares them)
    or (B, F): ``frame_unet(sample, timesteps, encoder_hidden_states=..., ...)``. The UNet itself
    receives the timesteps of the window's middle frame (so processors that read a call's
    timestep, TiARA's step range and PromptBlend's, see the middle of the window), and its blocks
    receive the per-frame embedding.
    """

    def __init__(self, unet: UNetMotionModel):
        if not isinstance(unet, UNetMotionModel):
            raise TypeError(
                "per-frame timesteps need AnimateDiff's UNetMotionModel (or a UNet2DConditionModel with a "
                f"MotionAdapter, which the pipeline turns into one); got {type(unet).__name__}."
            )
        self.unet = unet
        self._timesteps: torch.Tensor | None = None  # (B, F) during a call
        self._timestep_cond = None
        self._added: torch.Tensor | None = None
        self._embedding: torch.Tensor | None = None
        blocks = [*unet.down_blocks, *([unet.mid_block] if unet.mid_block is not None else []), *unet.up_blocks]
        self._hooks = [block.register_forward_pre_hook(self._block_temb, with_kwargs=True) for block in blocks]
        if getattr(unet, "add_embedding", None) is not None:
            self._hooks.append(unet.add_embedding.register_forward_hook(self._record_added))

    def remove(self) -> None:
        """Take the hooks off the UNet's blocks (and its added-condition embedding)."""
        for hook in self._hooks:
            hook.remove()
        self._hooks = []

    def __call__(self, sample: torch.Tensor, timesteps, *args, timestep_cond=None, **kwargs):
        """The UNet's output for ``sample`` (B, C, F, H, W) with frame f at ``timesteps[..., f]``
        ((F,) or (B, F)); other arguments go to the UNet as they are."""
        batch, frames = sample.shape[0], sample.shape[2]
        timesteps = torch.as_tensor(timesteps, device=sample.device)
        if timesteps.ndim == 1:
            timesteps = timesteps[None].expand(batch, -1)
        if timesteps.shape != (batch, frames):
            raise ValueError(
                f"per-frame timesteps must have shape (F,) or (B, F) = ({batch}, {frames}) for a sample of shape "
                f"{tuple(sample.shape)}, got {tuple(timesteps.shape)}."
            )
        self._timesteps, self._timestep_cond = timesteps, timestep_cond
        self._added, self._embedding = None, None
        try:
            middle = timesteps[:, frames // 2].contiguous()
            return self.unet(sample, middle, *args, timestep_cond=timestep_cond, **kwargs)
        finally:
            self._timesteps = self._timestep_cond = self._added = self._embedding = None

    # ------------------------------------------------------------------ hooks
    def _record_added(self, module, args, output):
        if self._timesteps is not None:
            self._added = output

    def _block_temb(self, module, args, kwargs):
        if self._timesteps is None:
            return None
        if self._embedding is None:
            self._embedding = self._frame_embedding()
        if "temb" in kwargs:
            kwargs["temb"] = self._embedding
        elif len(args) > 1:
            args = (args[0], self._embedding, *args[2:])
        else:
            kwargs["temb"] = self._embedding
        return args, kwargs

    def _frame_embedding(self) -> torch.Tensor:
        """(B * F, D): row b * F + f is the embedding of timesteps[b, f], made as the stock forward
        makes the embedding of a (B,) timestep tensor, one frame column at a time."""
        unet, timesteps = self.unet, self._timesteps
        frames = timesteps.shape[1]
        columns = {}
        for f in range(frames):
            key = tuple(timesteps[:, f].tolist())
            if key not in columns:
                t_emb = unet.time_proj(timesteps[:, f].contiguous()).to(dtype=unet.dtype)
                emb = unet.time_embedding(t_emb, self._timestep_cond)
                columns[key] = emb if self._added is None else emb + self._added
        per_frame = torch.stack([columns[tuple(timesteps[:, f].tolist())] for f in range(frames)], dim=1)  # (B, F, D)
        return per_frame.reshape(-1, per_frame.shape[-1])


@contextlib.contextmanager
def frame_timesteps(unet: UNetMotionModel) -> Callable:
    """Within the block, a callable that runs ``unet`` with a timestep per frame
    (:class:`FrameTimesteps`); the hooks are removed afterwards, and plain calls of the UNet
    inside the block are not changed."""
    wrapper = FrameTimesteps(unet)
    try:
        yield wrapper
    finally:
        wrapper.remove()
