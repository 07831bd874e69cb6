"""AnimateDiff for long videos: window denoising in flat memory, with TiARA."""

from __future__ import annotations

import contextlib
import numbers
from typing import Any, Callable

import torch

# diffusers' from_pretrained picks a component's loader by looking up its base classes in the
# module that defines it; keep DiffusionPipeline importable here.
from diffusers import (
    AnimateDiffPipeline,
    DiffusionPipeline,  # noqa: F401
)
from diffusers.pipelines.animatediff.pipeline_output import AnimateDiffPipelineOutput

from ..attention_processors import (
    TiaraSettings,
    disable_tiara,
    enable_tiara,
    tiara_controller,
)
from .windows import (
    WindowSettings,
    context_windows,
    denoise_in_windows,
    reuse_noise,
    window_weights,
)


class TiaraAnimateDiffPipeline(AnimateDiffPipeline):
    r"""``AnimateDiffPipeline`` that makes videos far longer than the motion module's window,
    optionally with TiARA temporal attention reweighting.

    Long videos use window denoising (FreeNoise, Qiu et al., ICLR 2024): at every step the whole
    UNet runs on overlapping windows of ``context_length`` frames and the outputs are fused per
    frame with pyramid weights, :math:`\hat\varepsilon_f = \sum_w c_{w,f}\varepsilon(x_w)_f /
    \sum_w c_{w,f}` (:func:`~plugdiff.pipelines.windows.denoise_in_windows`), with the first
    window's noise re-used, shuffled, for later frames. Only one window's activations exist at a
    time, so memory stays flat in ``num_frames``. A ``num_frames`` beyond the motion module's
    maximum turns windows on by itself (context 16, stride 4); ``windows=False`` turns them off,
    and a ``WindowSettings`` / dict sets them.

    TiARA (``tiara=`` in the call, or :func:`~plugdiff.attention_processors.enable_tiara` on the
    pipeline) reweights the temporal attention inside every window. If diffusers' FreeNoise is
    enabled (``enable_free_noise``), the call is diffusers' own FreeNoise path (windows inside
    the motion modules, memory growing with frames), with TiARA installed on top.

    Build it like any AnimateDiff pipeline: ``from_pretrained(local_dir_or_hub_id)`` or from
    components; it accepts any scheduler, plugdiff's included.
    """

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        num_frames: int = 16,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 50,
        guidance_scale: float = 7.5,
        negative_prompt: str | list[str] | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        cross_attention_kwargs: dict[str, Any] | None = None,
        clip_skip: int | None = None,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] = ["latents"],
        decode_chunk_size: int = 16,
        tiara: TiaraSettings | dict | None = None,
        windows: WindowSettings | dict | bool | None = None,
        eta: float = 0.0,
    ) -> AnimateDiffPipelineOutput | tuple:
        """Generate a video.

        Arguments as in ``AnimateDiffPipeline.__call__``, plus:

        Args:
            num_frames: frames to generate (>= 1); may exceed the motion module's window.
            tiara: TiARA settings for this call (``TiaraSettings`` or a dict of its fields);
                None keeps whatever ``enable_tiara`` installed. The pipeline's previous TiARA
                state is restored after the call.
            windows: None (automatic: on when ``num_frames`` exceeds the motion module's
                maximum), False (one pass over all frames), True (defaults), or a
                ``WindowSettings`` / dict (``context_length``, ``context_stride``,
                ``weighting``, ``noise_reuse``).
        """
        if isinstance(num_frames, bool) or not isinstance(num_frames, numbers.Integral) or num_frames < 1:
            raise ValueError(f"`num_frames` must be an int >= 1, got {num_frames!r}.")
        height = height or self.unet.config.sample_size * self.vae_scale_factor
        width = width or self.unet.config.sample_size * self.vae_scale_factor
        for name, size in (("height", height), ("width", width)):
            if size % self.vae_scale_factor:
                raise ValueError(f"`{name}`={size} must be divisible by the VAE factor {self.vae_scale_factor}.")
        tiara_settings = _as_settings(tiara, TiaraSettings, "tiara")

        if self.free_noise_enabled:
            self._check_window_frames(tiara_settings, min(num_frames, self._free_noise_context_length))
            with self._tiara_for_call(tiara_settings):
                return super().__call__(
                    prompt=prompt, num_frames=num_frames, height=height, width=width,
                    num_inference_steps=num_inference_steps, guidance_scale=guidance_scale,
                    negative_prompt=negative_prompt, eta=eta, generator=generator, latents=latents,
                    prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_prompt_embeds,
                    output_type=output_type, return_dict=return_dict, cross_attention_kwargs=cross_attention_kwargs,
                    clip_skip=clip_skip, callback_on_step_end=callback_on_step_end,
                    callback_on_step_end_tensor_inputs=callback_on_step_end_tensor_inputs,
                    decode_chunk_size=decode_chunk_size,
                )

        if isinstance(prompt, dict):
            raise ValueError(
                "a dict `prompt` (multi-prompt schedule) needs diffusers' FreeNoise here: call "
                "pipe.enable_free_noise() first, or pass one prompt."
            )
        window_settings = self._resolve_windows(windows, num_frames)
        frame_windows = (
            context_windows(num_frames, window_settings.context_length, window_settings.context_stride)
            if window_settings
            else [list(range(num_frames))]
        )
        self._check_window_frames(tiara_settings, len(frame_windows[0]))
        self.check_inputs(
            prompt, height, width, None, negative_prompt, prompt_embeds, negative_prompt_embeds, None, None,
            callback_on_step_end_tensor_inputs,
        )
        self._guidance_scale = guidance_scale
        self._clip_skip = clip_skip
        self._cross_attention_kwargs = cross_attention_kwargs
        self._interrupt = False
        device = self._execution_device
        batch_size = 1 if isinstance(prompt, str) else len(prompt) if prompt is not None else prompt_embeds.shape[0]

        prompt_embeds, negative_prompt_embeds = self.encode_prompt(
            prompt, device, 1, self.do_classifier_free_guidance, negative_prompt,
            prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_prompt_embeds, clip_skip=clip_skip,
        )
        if self.do_classifier_free_guidance:
            prompt_embeds = torch.cat([negative_prompt_embeds, prompt_embeds])  # per video, not per frame

        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        user_latents = latents is not None
        latents = self.prepare_latents(
            batch_size, self.unet.config.in_channels, num_frames, height, width, prompt_embeds.dtype, device, generator, latents
        )
        if window_settings and window_settings.noise_reuse == "shuffle" and not user_latents:
            latents = reuse_noise(
                latents, window_settings.context_length, window_settings.context_stride,
                generator[0] if isinstance(generator, list) else generator,
            )
        extra_step_kwargs = self.prepare_extra_step_kwargs(generator, eta)
        weights = window_weights(len(frame_windows[0]), window_settings.weighting if window_settings else "flat")

        def window_model(x: torch.Tensor, frames: list[int], t) -> torch.Tensor:
            model_input = torch.cat([x] * 2) if self.do_classifier_free_guidance else x
            model_input = self.scheduler.scale_model_input(model_input, t)
            noise_pred = self.unet(
                model_input, t, encoder_hidden_states=prompt_embeds.repeat_interleave(len(frames), dim=0),
                cross_attention_kwargs=cross_attention_kwargs,
            ).sample
            if self.do_classifier_free_guidance:
                uncond, cond = noise_pred.chunk(2)
                noise_pred = uncond + guidance_scale * (cond - uncond)
            return noise_pred

        with self._tiara_for_call(tiara_settings):
            self._num_timesteps = len(timesteps)
            with self.progress_bar(total=len(timesteps)) as progress_bar:
                for i, t in enumerate(timesteps):
                    if self.interrupt:
                        continue
                    noise_pred = denoise_in_windows(lambda x, frames: window_model(x, frames, t), latents, frame_windows, weights)
                    latents = self.scheduler.step(noise_pred, t, latents, **extra_step_kwargs).prev_sample
                    if callback_on_step_end is not None:
                        step_state = {"latents": latents, "prompt_embeds": prompt_embeds, "noise_pred": noise_pred}
                        callback_kwargs = {k: step_state[k] for k in callback_on_step_end_tensor_inputs}
                        latents = callback_on_step_end(self, i, t, callback_kwargs).pop("latents", latents)
                    progress_bar.update()

        if output_type == "latent":
            video = latents
        else:
            video = self.video_processor.postprocess_video(video=self.decode_latents(latents, decode_chunk_size), output_type=output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (video,)
        return AnimateDiffPipelineOutput(frames=video)

    # ------------------------------------------------------------------ helpers
    @property
    def motion_max_frames(self) -> int:
        """The most frames the motion modules' positional encoding takes in one pass."""
        return self.unet.config.motion_max_seq_length

    def _resolve_windows(self, windows, num_frames: int) -> WindowSettings | None:
        if windows is None:
            windows = num_frames > self.motion_max_frames
        if windows is False:
            if num_frames > self.motion_max_frames:
                raise ValueError(
                    f"`num_frames`={num_frames} exceeds the motion modules' maximum of {self.motion_max_frames} frames "
                    "per pass: use window denoising (windows=None or True) or diffusers' FreeNoise."
                )
            return None
        settings = WindowSettings(context_length=min(16, self.motion_max_frames)) if windows is True else _as_settings(windows, WindowSettings, "windows")
        if settings.context_length > self.motion_max_frames:
            raise ValueError(
                f"`context_length`={settings.context_length} exceeds the motion modules' maximum of {self.motion_max_frames} frames."
            )
        if settings.context_length > num_frames:
            raise ValueError(
                f"`context_length`={settings.context_length} is larger than `num_frames`={num_frames}: use a window of at "
                "most num_frames, or windows=False for a single pass."
            )
        return settings

    def _check_window_frames(self, tiara_settings: TiaraSettings | None, frames: int) -> None:
        settings = tiara_settings or getattr(tiara_controller(self), "settings", None)
        if settings is not None and settings.alpha > 0:
            settings.check_frames(frames)

    @contextlib.contextmanager
    def _tiara_for_call(self, settings: TiaraSettings | None):
        """Install ``settings`` for one call and put back the pipeline's previous TiARA state."""
        if settings is None:
            yield
            return
        previous = tiara_controller(self)
        previous_settings = previous.settings if previous is not None else None
        enable_tiara(self, settings)
        try:
            yield
        finally:
            if previous_settings is not None:
                enable_tiara(self, previous_settings)
            else:
                disable_tiara(self)


def _as_settings(value, cls, name):
    if value is None or isinstance(value, cls):
        return value
    if isinstance(value, dict):
        return cls(**value)
    raise TypeError(f"`{name}` must be a {cls.__name__}, a dict of its fields, or None; got {type(value).__name__}.")
