"""PromptBlend's gated cross-attention (Li et al., arXiv 2412.17254, after FreeNoise's motion
injection, Qiu et al., ICLR 2024): which text condition each spatial cross-attention layer sees.

Every frame has an *anchor* condition (the prompt of the segment it is in) and a *blended* one
(the interpolation towards the next prompt inside a transition window). The blended condition is
used

* in decoder (``up_blocks``) cross-attention at every denoising step, and
* in every cross-attention layer for steps whose progress ``1 - t / T`` lies in ``step_range``
  (t1, t2);

everywhere else (encoder and mid-block layers outside [t1, t2]) the anchor is used. The
processors wrap the processor they replace (SDPA, xformers, ...) and only swap
``encoder_hidden_states``, so attention itself is untouched; temporal layers (TiARA's) are left
alone. They are installed by :mod:`.install`'s mechanism, like TiARA's and SpectralBlend's.
"""

from __future__ import annotations

import torch
from diffusers.models.attention_processor import Attention

from .install import install_processors, remove_processors, temporal_predicate, unet_and_timesteps
from .promptblend_settings import DEFAULT_STEP_RANGE
from .steps import check_step_range, in_step_range, scalar_timestep


class PromptBlendController:
    """The conditions of the current UNet call and the current step, shared by the PromptBlend
    processors of one UNet.

    Call :meth:`update` before every UNet call with that call's per-frame conditions, flattened
    the way the UNet flattens its input: (batch * frames, tokens, dim), batch-major, the
    classifier-free-guidance negative half first when there is one.

    Args:
        step_range: (t1, t2), fractions of the trajectory (by noise level) where every layer
            gets the blended condition.
        num_train_timesteps: T of the noise schedule.
    """

    def __init__(self, step_range=DEFAULT_STEP_RANGE, num_train_timesteps: int = 1000):
        self.step_range = check_step_range(step_range)
        self.num_train_timesteps = num_train_timesteps
        self.anchor: torch.Tensor | None = None
        self.blended: torch.Tensor | None = None
        self.timestep: float | None = None

    def update(self, anchor: torch.Tensor, blended: torch.Tensor, timestep) -> None:
        """Set the next UNet call's anchor and blended conditions (same shape) and its timestep."""
        if anchor.shape != blended.shape:
            raise ValueError(
                f"anchor {tuple(anchor.shape)} and blended {tuple(blended.shape)} conditions must have the same shape."
            )
        self.anchor, self.blended = anchor, blended
        self.timestep = scalar_timestep(timestep)

    def blends_everywhere(self) -> bool:
        """Whether the current step lies in ``step_range``."""
        return in_step_range(self.timestep, self.num_train_timesteps, self.step_range)

    def condition(self, decoder: bool, batch: int) -> torch.Tensor:
        """The condition a cross-attention layer sees now: blended in the decoder or inside
        ``step_range``, else the anchor."""
        if self.anchor is None:
            raise RuntimeError(
                "PromptBlend: no conditions for this UNet call; call controller.update(anchor, blended, t) first."
            )
        condition = self.blended if decoder or self.blends_everywhere() else self.anchor
        if condition.shape[0] != batch:
            raise ValueError(
                f"PromptBlend: the cross-attention layer sees a batch of {batch} but the conditions hold "
                f"{condition.shape[0]} (batch x frames) rows; per-frame conditions need the whole batch in one call "
                "(FreeNoise split inference is not supported)."
            )
        return condition


class PromptBlendAttnProcessor:
    r"""diffusers cross-attention processor that feeds a layer PromptBlend's gated condition:

    .. math:: c_f = \begin{cases} (1 - a_f)\,P_{i(f)} + a_f\,P_{i(f)+1}
              & \text{decoder layer, or } t_1 \le 1 - t/T \le t_2 \\
              P_{i(f)} & \text{otherwise} \end{cases}

    per frame f (Li et al., arXiv 2412.17254, our reading; the gating follows FreeNoise's motion
    injection). The conditions come from ``controller``; the attention is computed by
    ``fallback``, the processor this one replaced, with ``encoder_hidden_states`` swapped.

    Args:
        fallback: the replaced processor (e.g. ``AttnProcessor2_0``).
        controller: the :class:`PromptBlendController` holding this call's conditions.
        decoder: whether the layer is in the UNet's up blocks (always blended).
    """

    def __init__(self, fallback, controller: PromptBlendController, decoder: bool):
        self.fallback = fallback
        self.controller = controller
        self.decoder = decoder

    def __call__(
        self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kwargs
    ):
        condition = self.controller.condition(self.decoder, hidden_states.shape[0])
        return self.fallback(attn, hidden_states, condition, attention_mask, temb, *args, **kwargs)


def cross_attention_processor_names(unet) -> list[str]:
    """Names (as in ``unet.attn_processors``) of the spatial cross-attention layers of a video
    UNet: every cross-attention ``Attention`` outside the temporal layers."""
    is_temporal = temporal_predicate(unet, "PromptBlend")
    return [
        f"{name}.processor"
        for name, module in unet.named_modules()
        if isinstance(module, Attention) and module.is_cross_attention and not is_temporal(f"{name}.processor")
    ]


def enable_promptblend(
    pipe_or_unet, step_range=DEFAULT_STEP_RANGE, *, num_train_timesteps: int | None = None
) -> PromptBlendController:
    """Install PromptBlend processors on every spatial cross-attention layer of a video UNet
    (``UNetMotionModel`` or ``UNet3DConditionModel``), wrapping the processors there; temporal
    layers (TiARA's included) keep theirs. Feed conditions with the returned controller's
    ``update`` before each UNet call; :func:`disable_promptblend` restores the processors.
    Processors replaced after this call are wrapped again at the next UNet call (see
    :class:`~plugdiff.attention_processors.install.ProcessorInstallation`).

    Args:
        pipe_or_unet: a pipeline with ``.unet`` or the UNet.
        step_range: (t1, t2) where every layer gets the blended condition.
        num_train_timesteps: T; default: the pipeline scheduler's, else 1000.
    """
    unet, num_train_timesteps = unet_and_timesteps(pipe_or_unet, num_train_timesteps)
    names = set(cross_attention_processor_names(unet))
    controller = PromptBlendController(step_range, num_train_timesteps)
    install_processors(
        unet,
        "PromptBlend",
        controller,
        names.__contains__,
        lambda name, inner: PromptBlendAttnProcessor(inner, controller, decoder=name.startswith("up_blocks.")),
    )
    return controller


def disable_promptblend(pipe_or_unet) -> None:
    """Put back the processors PromptBlend wrapped; a no-op where it is not installed."""
    remove_processors(pipe_or_unet, "PromptBlend")
