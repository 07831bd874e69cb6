"""AnimateDiff for long videos: window denoising, FIFO-Diffusion or FreeLong, with TiARA and
PromptBlend."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import torch

# diffusers' from_pretrained picks a component's loader by looking up its base classes in the
# module that defines it; keep DiffusionPipeline importable here.
from diffusers import (
    AnimateDiffPipeline,
    DiffusionPipeline,  # noqa: F401
)
from diffusers.image_processor import PipelineImageInput
from diffusers.loaders import TextualInversionLoaderMixin
from diffusers.pipelines.animatediff.pipeline_output import AnimateDiffPipelineOutput
from diffusers.utils import USE_PEFT_BACKEND, deprecate, scale_lora_layers, unscale_lora_layers
from diffusers.utils.torch_utils import randn_tensor

from ...argument_checks import check_int
from ...attention_processors import (
    PromptBlendSettings,
    SpectralBlendSettings,
    TiaraSettings,
    disable_promptblend,
    disable_spectral_blend,
    disable_tiara,
    enable_promptblend,
    enable_spectral_blend,
    enable_tiara,
    tiara_controller,
)
from .call_checks import check_video_call
from .fifo import FrameStepper, diagonal_queue, fifo_denoise, warmup_frames
from .frame_conditions import FrameConditions
from .frame_timesteps import frame_timesteps
from .hosts import FifoSettings, WindowSettings, resolve_host
from .prompt_alignment import aligned_input_ids
from .prompt_interpolation import frame_mixing, mix
from .prompt_schedule import PromptSchedule, is_schedule
from .windows import (
    context_windows,
    denoise_in_windows,
    reuse_noise,
    window_weights,
)


class TiaraAnimateDiffPipeline(AnimateDiffPipeline):
    r"""``AnimateDiffPipeline`` that makes videos far longer than the motion module's window,
    optionally with TiARA temporal attention reweighting and PromptBlend multi-prompt
    interpolation.

    Long videos use window denoising (FreeNoise, Qiu et al., ICLR 2024): at every step the whole
    UNet runs on overlapping windows of ``context_length`` frames and the outputs are fused per
    frame with pyramid weights, :math:`\hat\varepsilon_f = \sum_w c_{w,f}\varepsilon(x_w)_f /
    \sum_w c_{w,f}` (:func:`~plugdiff.pipelines.animatediff.windows.denoise_in_windows`), with the first
    window's noise re-used, shuffled, for later frames. Only one window's activations exist at a
    time, so memory stays flat in ``num_frames``. A ``num_frames`` beyond the motion module's
    maximum turns windows on by itself (``WindowSettings``' defaults); ``windows=False`` turns them off,
    and a ``WindowSettings`` / dict sets them. If diffusers' FreeNoise is enabled
    (``enable_free_noise``), the UNet sees all frames at once and its motion modules window
    themselves (memory growing with frames); TiARA and PromptBlend work the same there.

    Two other long-video methods (hosts) are a choice of the call (``long_video=``):
    ``"fifo"``, FIFO-Diffusion's diagonal denoising (:mod:`~plugdiff.pipelines.animatediff.fifo`:
    a queue of frames at increasing noise levels, a timestep per frame through the UNet, flat
    memory), and ``"freelong"``, FreeLong's SpectralBlend temporal attention
    (:mod:`~plugdiff.attention_processors.spectral_blend`: the UNet sees all frames; global and
    local temporal attention blended in the frequency domain; memory grows with frames).

    TiARA (``tiara=`` in the call, or :func:`~plugdiff.attention_processors.enable_tiara` on the
    pipeline) reweights the temporal attention inside every window, on every host.

    A prompt schedule (``{0: "...", 48: "..."}``, prompt-travel text or a
    :class:`~plugdiff.pipelines.PromptSchedule`) makes a multi-prompt video. With PromptBlend
    (``prompt_blend=True``, the default) the prompts are structured into slots and aligned token
    by token, every frame gets an anchor and a blended condition
    (:mod:`~plugdiff.pipelines.animatediff.prompt_interpolation`) and gated cross-attention processors
    (:class:`~plugdiff.attention_processors.PromptBlendAttnProcessor`) feed the blended one to
    the decoder at every step and to all layers inside ``step_range``. ``prompt_blend=False`` is
    diffusers' FreeNoise baseline: plain encodings interpolated linearly between key frames, in
    every layer.

    Build it like any AnimateDiff pipeline: ``from_pretrained(local_dir_or_hub_id)`` or from
    components; it accepts any scheduler, plugdiff's included.
    """

    _callback_tensor_inputs = ["latents", "prompt_embeds", "negative_prompt_embeds", "noise_pred"]

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str] | dict | PromptSchedule | None = None,
        num_frames: int = 16,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 50,
        guidance_scale: float = 7.5,
        negative_prompt: str | list[str] | None = None,
        num_videos_per_prompt: int = 1,
        eta: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        ip_adapter_image: PipelineImageInput | None = None,
        ip_adapter_image_embeds: list[torch.Tensor] | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        cross_attention_kwargs: dict[str, Any] | None = None,
        clip_skip: int | None = None,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: list[str] = ["latents"],  # noqa: B006 (diffusers' default, kept for drop-in use)
        decode_chunk_size: int = 16,
        tiara: TiaraSettings | dict | None = None,
        windows: WindowSettings | dict | bool | None = None,
        prompt_blend: PromptBlendSettings | dict | bool = True,
        long_video: str | FifoSettings | SpectralBlendSettings | dict | None = None,
        **kwargs,
    ) -> AnimateDiffPipelineOutput | tuple:
        """Generate a video.

        Arguments as in ``AnimateDiffPipeline.__call__``, in the same order (IP-Adapter, FreeInit,
        FreeNoise, LoRA ``scale`` in ``cross_attention_kwargs``, ``clip_skip`` and the deprecated
        ``callback`` / ``callback_steps`` included), plus:

        Args:
            prompt: one prompt, a list (a batch of videos), or a prompt schedule for one
                multi-prompt video: ``{frame: prompt}`` (keys int or numeric strings, starting
                at 0; values free text, ``"|"``-separated slots or a dict of slots),
                prompt-travel text (``"0: ...\\n48: ..."``) or a ``PromptSchedule``.
            num_frames: frames to generate (>= 1); may exceed the motion module's window.
            num_videos_per_prompt: videos per prompt (or per prompt schedule), batched.
            tiara: TiARA settings for this call (``TiaraSettings`` or a dict of its fields);
                None keeps whatever ``enable_tiara`` installed. The pipeline's previous TiARA
                state is restored after the call.
            windows: None (automatic: on when ``num_frames`` exceeds the motion module's
                maximum), False (one pass over all frames), True (defaults), or a
                ``WindowSettings`` / dict (``context_length``, ``context_stride``,
                ``weighting``, ``noise_reuse``).
            prompt_blend: for a prompt schedule: True (PromptBlend, default settings), a
                ``PromptBlendSettings`` / dict (``transition``, ``step_range``), or False
                (diffusers' linear interpolation baseline). Ignored for a single prompt.
            long_video: the long-video method: None or "windows" (window denoising as set by
                ``windows``, or diffusers' FreeNoise when enabled), "fifo" (FIFO-Diffusion;
                ``num_inference_steps`` must be a multiple of its window; a ``FifoSettings`` or
                ``{"host": "fifo", "window": 16, "lookahead": True}``), or "freelong" (FreeLong's
                SpectralBlend; a ``SpectralBlendSettings`` or ``{"host": "freelong", ...}`` of its
                fields; ``windows`` sets its local window and FreeNoise noise). FIFO needs a
                scheduler that steps per frame (DDIM, DDPM, Euler, Euler ancestral,
                AcceleratedDDPM) and takes no ``latents`` or step callbacks.
            callback_on_step_end_tensor_inputs: any of "latents", "noise_pred",
                "prompt_embeds" (the text conditions, (B, F, L, D) per frame or (B, 1, L, D);
                PromptBlend's anchors) and "negative_prompt_embeds" ((B, 1, L, D), or None
                without guidance); only a returned "latents" is taken back.
        """
        callback, callback_steps = _deprecated_callback(kwargs)
        check_video_call(self, num_frames, height, width, num_inference_steps, guidance_scale, latents)
        check_int(num_videos_per_prompt, "num_videos_per_prompt", minimum=1)
        height = height or self.unet.config.sample_size * self.vae_scale_factor
        width = width or self.unet.config.sample_size * self.vae_scale_factor
        for name, size in (("height", height), ("width", width)):
            if size % self.vae_scale_factor:
                raise ValueError(f"`{name}`={size} must be divisible by the VAE factor {self.vae_scale_factor}.")
        tiara_settings = _as_settings(tiara, TiaraSettings, "tiara")
        blend_settings = _blend_settings(prompt_blend)
        host, host_settings = resolve_host(long_video)
        schedule = self._check_prompt(
            prompt,
            num_frames,
            height,
            width,
            callback_steps,
            negative_prompt,
            prompt_embeds,
            negative_prompt_embeds,
            ip_adapter_image,
            ip_adapter_image_embeds,
            callback_on_step_end_tensor_inputs,
        )
        if host == "fifo":
            self._check_fifo_call(latents, callback_on_step_end, callback)
            window_settings, frame_windows = None, None
            fifo_window = self._fifo_window(host_settings, windows)
            host_settings.partitions(num_inference_steps, fifo_window)
            temporal_frames = fifo_window
        elif host == "freelong":
            window_settings, host_settings = self._plan_freelong(host_settings, windows, num_frames)
            frame_windows = [list(range(num_frames))]
            temporal_frames = min(num_frames, host_settings.local_frames)
        else:
            window_settings, frame_windows = self._plan_windows(windows, num_frames)
            temporal_frames = (
                min(num_frames, self._free_noise_context_length) if self.free_noise_enabled else len(frame_windows[0])
            )
        self._check_window_frames(tiara_settings, temporal_frames)
        self._guidance_scale = guidance_scale
        self._clip_skip = clip_skip
        self._cross_attention_kwargs = cross_attention_kwargs
        self._interrupt = False
        device = self._execution_device
        lora_scale = (cross_attention_kwargs or {}).get("scale")

        if schedule is not None:
            conditions = self._schedule_conditions(
                schedule, blend_settings, num_frames, negative_prompt, device, clip_skip, lora_scale
            )
            conditions = conditions.repeat_videos(num_videos_per_prompt)
        else:
            conditions = self._prompt_conditions(
                prompt,
                negative_prompt,
                prompt_embeds,
                negative_prompt_embeds,
                device,
                clip_skip,
                lora_scale,
                num_videos_per_prompt,
            )
        batch_size = conditions.anchor.shape[0]
        added_cond_kwargs = None
        if ip_adapter_image is not None or ip_adapter_image_embeds is not None:
            image_embeds = self.prepare_ip_adapter_image_embeds(
                ip_adapter_image, ip_adapter_image_embeds, device, batch_size, self.do_classifier_free_guidance
            )
            added_cond_kwargs = {"image_embeds": image_embeds}

        self.scheduler.set_timesteps(num_inference_steps, device=device)
        extra_step_kwargs = self.prepare_extra_step_kwargs(generator, eta)

        with (
            self._tiara_for_call(tiara_settings),
            self._promptblend_for_call(conditions, blend_settings) as blend,
            self._spectral_blend_for_call(host_settings if host == "freelong" else None),
        ):

            def window_model(x: torch.Tensor, frames: list[int], t) -> torch.Tensor:
                model_input = torch.cat([x] * 2) if self.do_classifier_free_guidance else x
                model_input = self.scheduler.scale_model_input(model_input, t)
                encoder_hidden_states = conditions.window(frames)
                if blend is not None:
                    blend.update(encoder_hidden_states, conditions.window(frames, blended=True), t)
                noise_pred = self.unet(
                    model_input,
                    t,
                    encoder_hidden_states=encoder_hidden_states,
                    cross_attention_kwargs=cross_attention_kwargs,
                    added_cond_kwargs=added_cond_kwargs,
                ).sample
                return self._guided(noise_pred)

            if host == "fifo":
                latents = self._fifo_denoise(
                    window_model,
                    conditions,
                    blend,
                    host_settings,
                    fifo_window,
                    num_frames,
                    batch_size,
                    height,
                    width,
                    device,
                    generator,
                    extra_step_kwargs,
                    added_cond_kwargs,
                    cross_attention_kwargs,
                )
            else:
                latents = self._window_denoise(
                    window_model,
                    window_settings,
                    frame_windows,
                    num_frames,
                    num_inference_steps,
                    batch_size,
                    height,
                    width,
                    conditions,
                    device,
                    generator,
                    latents,
                    extra_step_kwargs,
                    callback_on_step_end,
                    callback_on_step_end_tensor_inputs,
                    callback,
                    callback_steps,
                    freelong=host == "freelong",
                )

        if output_type == "latent":
            video = latents
        else:
            video = self.video_processor.postprocess_video(
                video=self.decode_latents(latents, decode_chunk_size), output_type=output_type
            )
        self.maybe_free_model_hooks()
        if not return_dict:
            return (video,)
        return AnimateDiffPipelineOutput(frames=video)

    # ------------------------------------------------------------------ denoising
    def _guided(self, noise_pred: torch.Tensor) -> torch.Tensor:
        """Classifier-free guidance on a model output whose first half is the negative batch."""
        if not self.do_classifier_free_guidance:
            return noise_pred
        uncond, cond = noise_pred.chunk(2)
        return uncond + self._guidance_scale * (cond - uncond)

    def _window_denoise(
        self,
        window_model,
        window_settings,
        frame_windows,
        num_frames,
        num_inference_steps,
        batch_size,
        height,
        width,
        conditions,
        device,
        generator,
        latents,
        extra_step_kwargs,
        callback_on_step_end,
        callback_inputs,
        callback,
        callback_steps,
        freelong: bool = False,
    ) -> torch.Tensor:
        """Every frame at the same level at every step: window denoising (one window of all frames
        for FreeLong and diffusers' FreeNoise), with FreeInit when enabled."""
        timesteps = self.scheduler.timesteps
        user_latents = latents is not None
        latents = self.prepare_latents(
            batch_size,
            self.unet.config.in_channels,
            num_frames,
            height,
            width,
            conditions.anchor.dtype,
            device,
            generator,
            latents,
        )
        if window_settings and window_settings.noise_reuse == "shuffle" and not user_latents:
            latents = reuse_noise(
                latents,
                window_settings.context_length,
                window_settings.context_stride,
                generator[0] if isinstance(generator, list) else generator,
            )
        # FreeLong's one window of every frame: flat weights, so that the fusion is the identity
        weighting = window_settings.weighting if window_settings and not freelong else "flat"
        weights = window_weights(len(frame_windows[0]), weighting)
        # FreeInit (Wu et al. 2023, enable_free_init): re-noise the result's low frequencies
        # and denoise again, as AnimateDiffPipeline does
        for free_init_iter in range(self._free_init_num_iters if self.free_init_enabled else 1):
            if self.free_init_enabled:
                latents, timesteps = self._apply_free_init(
                    latents, free_init_iter, num_inference_steps, device, latents.dtype, generator
                )
            self._num_timesteps = len(timesteps)
            with self.progress_bar(total=len(timesteps)) as progress_bar:
                for i, t in enumerate(timesteps):
                    if self.interrupt:
                        continue
                    noise_pred = denoise_in_windows(
                        lambda x, frames, t=t: window_model(x, frames, t), latents, frame_windows, weights
                    )
                    latents = self.scheduler.step(noise_pred, t, latents, **extra_step_kwargs).prev_sample
                    if callback_on_step_end is not None:
                        step_state = {
                            "latents": latents,
                            "prompt_embeds": conditions.anchor,
                            "negative_prompt_embeds": conditions.negative,
                            "noise_pred": noise_pred,
                        }
                        callback_kwargs = {k: step_state[k] for k in callback_inputs}
                        latents = callback_on_step_end(self, i, t, callback_kwargs).pop("latents", latents)
                    if callback is not None and i % callback_steps == 0:
                        callback(i, t, latents)
                    progress_bar.update()
        return latents

    def _fifo_denoise(
        self,
        window_model,
        conditions,
        blend,
        settings: FifoSettings,
        window: int,
        num_frames: int,
        batch_size,
        height,
        width,
        device,
        generator,
        extra_step_kwargs,
        added_cond_kwargs,
        cross_attention_kwargs,
    ) -> torch.Tensor:
        """FIFO-Diffusion (:mod:`.fifo`): a ``window``-frame clip denoised the ordinary way starts
        the queue, then diagonal denoising produces the frames one by one."""
        stepper = FrameStepper(self.scheduler)
        timesteps = self.scheduler.timesteps
        channels, dtype = self.unet.config.in_channels, conditions.anchor.dtype
        frame_shape = (batch_size, channels, 1, height // self.vae_scale_factor, width // self.vae_scale_factor)
        self._num_timesteps = len(timesteps)
        skip = 0 if settings.keep_warmup else warmup_frames(len(timesteps), window)
        with self.progress_bar(total=len(timesteps) + num_frames) as progress_bar:
            clip = self.prepare_latents(batch_size, channels, window, height, width, dtype, device, generator)
            clip_frames = [min(f, num_frames - 1) for f in range(window)]
            for t in timesteps:
                output = window_model(clip, clip_frames, t)
                clip = self.scheduler.step(output, t, clip, **extra_step_kwargs).prev_sample
                progress_bar.update()
            level_shape = (*frame_shape[:2], len(timesteps), *frame_shape[3:])
            noise = randn_tensor(level_shape, generator=generator, device=device, dtype=dtype)
            queue, labels = diagonal_queue(clip, timesteps, self.scheduler.add_noise, noise, settings.lookahead)

            def fresh() -> torch.Tensor:
                noise = randn_tensor(frame_shape, generator=generator, device=device, dtype=dtype)
                return noise * self.scheduler.init_noise_sigma

            with frame_timesteps(self.unet) as frame_unet:

                def model(x: torch.Tensor, levels: torch.Tensor, frames: list[int]) -> torch.Tensor:
                    model_input = torch.cat([x] * 2) if self.do_classifier_free_guidance else x
                    model_input = stepper.scale_model_input(model_input, levels)
                    encoder_hidden_states = conditions.window(frames)
                    if blend is not None:
                        blended = conditions.window(frames, blended=True)
                        blend.update(encoder_hidden_states, blended, levels[len(frames) // 2])
                    noise_pred = frame_unet(
                        model_input,
                        levels,
                        encoder_hidden_states=encoder_hidden_states,
                        cross_attention_kwargs=cross_attention_kwargs,
                        added_cond_kwargs=added_cond_kwargs,
                    ).sample
                    return self._guided(noise_pred)

                step = lambda output, x, levels: stepper.step(output, x, levels, **extra_step_kwargs)  # noqa: E731
                frames = []
                for frame in fifo_denoise(
                    model, step, queue, labels, num_frames, window, settings.lookahead, fresh, skip
                ):
                    frames.append(frame)
                    progress_bar.update()
                    if self.interrupt:
                        break
        return torch.stack(frames, dim=2)

    def to_json_string(self) -> str:
        """The config as stock ``AnimateDiffPipeline``'s, so that a saved folder loads with plain
        ``DiffusionPipeline.from_pretrained``; ``TiaraAnimateDiffPipeline.from_pretrained(folder)``
        loads it as this class."""
        config = json.loads(super().to_json_string())
        config["_class_name"] = AnimateDiffPipeline.__name__
        return json.dumps(config, indent=2, sort_keys=True) + "\n"

    # ------------------------------------------------------------------ conditions
    def _check_prompt(
        self,
        prompt,
        num_frames,
        height,
        width,
        callback_steps,
        negative_prompt,
        prompt_embeds,
        negative_prompt_embeds,
        ip_adapter_image,
        ip_adapter_image_embeds,
        callback_inputs,
    ) -> PromptSchedule | None:
        """Validate the prompt arguments; the parsed schedule when ``prompt`` is one, else None."""
        if not is_schedule(prompt):
            self.check_inputs(
                prompt,
                height,
                width,
                callback_steps,
                negative_prompt,
                prompt_embeds,
                negative_prompt_embeds,
                ip_adapter_image,
                ip_adapter_image_embeds,
                callback_inputs,
            )
            return None
        schedule = PromptSchedule.parse(prompt)
        schedule.check_frames(num_frames)
        if prompt_embeds is not None or negative_prompt_embeds is not None:
            raise ValueError(
                "a prompt schedule is encoded by the pipeline: do not pass `prompt_embeds` / `negative_prompt_embeds` "
                "with it."
            )
        if not isinstance(negative_prompt, (str, type(None))):
            raise TypeError(
                "with a prompt schedule, `negative_prompt` must be one string (used for every frame), got "
                f"{type(negative_prompt).__name__}."
            )
        unknown = [name for name in callback_inputs if name not in self._callback_tensor_inputs]
        if unknown:
            raise ValueError(
                f"`callback_on_step_end_tensor_inputs` has {unknown}; allowed: {self._callback_tensor_inputs}."
            )
        return schedule

    def _prompt_conditions(
        self,
        prompt,
        negative_prompt,
        prompt_embeds,
        negative_prompt_embeds,
        device,
        clip_skip,
        lora_scale,
        num_videos_per_prompt,
    ) -> FrameConditions:
        """One condition per video (the same for every frame), encoded as diffusers does."""
        positive, negative = self.encode_prompt(
            prompt,
            device,
            num_videos_per_prompt,
            self.do_classifier_free_guidance,
            negative_prompt,
            prompt_embeds=prompt_embeds,
            negative_prompt_embeds=negative_prompt_embeds,
            lora_scale=lora_scale,
            clip_skip=clip_skip,
        )
        return FrameConditions(positive[:, None], negative[:, None] if self.do_classifier_free_guidance else None)

    def _schedule_conditions(
        self, schedule, settings, num_frames, negative_prompt, device, clip_skip, lora_scale
    ) -> FrameConditions:
        """Per-frame conditions of a prompt schedule: PromptBlend's aligned anchor / blended
        conditions, or (``settings`` None) diffusers' linear interpolation of plain encodings."""
        if settings is None:
            embeddings, _ = self.encode_prompt(
                schedule.texts, device, 1, False, lora_scale=lora_scale, clip_skip=clip_skip
            )
            _, linear = frame_mixing(schedule.frames, num_frames, 1.0)
            anchor, blended = mix(linear, embeddings), None
        else:
            with self._text_encoder_lora_scale(lora_scale):
                embeddings = self._encode_token_ids(aligned_input_ids(self.tokenizer, schedule), device, clip_skip)
            anchor_weights, blend_weights = frame_mixing(schedule.frames, num_frames, settings.transition)
            anchor, blended = mix(anchor_weights, embeddings), mix(blend_weights, embeddings)
        negative = None
        if self.do_classifier_free_guidance:  # one negative condition for every frame, as diffusers encodes it
            _, negative = self.encode_prompt(
                "", device, 1, True, negative_prompt, lora_scale=lora_scale, clip_skip=clip_skip
            )
            negative = negative[:, None]
        return FrameConditions(anchor[None], negative, blended[None] if blended is not None else None)

    def _encode_token_ids(self, input_ids: torch.Tensor, device, clip_skip: int | None) -> torch.Tensor:
        """The text encoder's embeddings of ready token ids, with ``clip_skip`` as in
        ``encode_prompt`` (the hidden state ``clip_skip`` layers before the last, final layer
        norm applied)."""
        input_ids = input_ids.to(device)
        if clip_skip is None:
            embeddings = self.text_encoder(input_ids)[0]
        else:
            hidden_states = self.text_encoder(input_ids, output_hidden_states=True)[-1]
            embeddings = _final_layer_norm(self.text_encoder)(hidden_states[-(clip_skip + 1)])
        return embeddings.to(dtype=self.text_encoder.dtype, device=device)

    def encode_prompt(
        self,
        prompt,
        device,
        num_images_per_prompt,
        do_classifier_free_guidance,
        negative_prompt=None,
        prompt_embeds: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        lora_scale: float | None = None,
        clip_skip: int | None = None,
    ):
        """``AnimateDiffPipeline.encode_prompt``, with ``clip_skip`` working on transformers >= 5
        text encoders too (they have no ``text_model``): the prompt is then encoded here, the same
        way, and handed on as ``prompt_embeds``. Without the PEFT backend no LoRA can be loaded
        into the text encoder, so ``lora_scale`` is only recorded (diffusers' legacy scaling path
        needs ``text_model`` too)."""
        if lora_scale is not None and not USE_PEFT_BACKEND and not hasattr(self.text_encoder, "text_model"):
            self._lora_scale, lora_scale = lora_scale, None
        if clip_skip is not None and prompt_embeds is None and not hasattr(self.text_encoder, "text_model"):
            if isinstance(self, TextualInversionLoaderMixin):
                prompt = self.maybe_convert_prompt(prompt, self.tokenizer)
            input_ids = self.tokenizer(
                prompt,
                padding="max_length",
                max_length=self.tokenizer.model_max_length,
                truncation=True,
                return_tensors="pt",
            ).input_ids
            with self._text_encoder_lora_scale(lora_scale):
                prompt_embeds = self._encode_token_ids(input_ids, device, clip_skip)
        return super().encode_prompt(
            prompt,
            device,
            num_images_per_prompt,
            do_classifier_free_guidance,
            negative_prompt,
            prompt_embeds=prompt_embeds,
            negative_prompt_embeds=negative_prompt_embeds,
            lora_scale=lora_scale,
            clip_skip=clip_skip,
        )

    @contextlib.contextmanager
    def _text_encoder_lora_scale(self, scale: float | None):
        """The text encoder's LoRA layers scaled by ``scale`` for encodings made outside
        ``encode_prompt`` (which scales them itself), as diffusers does with the PEFT backend."""
        if scale is None or not USE_PEFT_BACKEND:
            yield
            return
        scale_lora_layers(self.text_encoder, scale)
        try:
            yield
        finally:
            unscale_lora_layers(self.text_encoder, scale)

    @contextlib.contextmanager
    def _promptblend_for_call(self, conditions: FrameConditions, settings: PromptBlendSettings | None):
        """PromptBlend's gated processors for one call when the conditions have a blended part;
        yields their controller (or None) and takes them off afterwards."""
        if conditions.blended is None:
            yield None
            return
        controller = enable_promptblend(self, settings.step_range)
        try:
            yield controller
        finally:
            disable_promptblend(self)

    # ------------------------------------------------------------------ helpers
    @property
    def motion_max_frames(self) -> int:
        """The most frames the motion modules' positional encoding takes in one pass."""
        return self.unet.config.motion_max_seq_length

    def _plan_windows(self, windows, num_frames: int) -> tuple[WindowSettings | None, list[list[int]]]:
        """Window settings (None: one pass) and the frame windows of every UNet call."""
        if self.free_noise_enabled:
            if windows is not None:
                raise ValueError(
                    "`windows` cannot be combined with diffusers' FreeNoise, which windows the motion modules itself: "
                    "leave windows=None, or call pipe.disable_free_noise() to use plugdiff's window denoising."
                )
            return None, [list(range(num_frames))]
        settings = self._resolve_windows(windows, num_frames)
        if settings is None:
            return None, [list(range(num_frames))]
        return settings, context_windows(num_frames, settings.context_length, settings.context_stride)

    def _resolve_windows(self, windows, num_frames: int) -> WindowSettings | None:
        if windows is None:
            windows = num_frames > self.motion_max_frames
        if windows is False:
            if num_frames > self.motion_max_frames:
                raise ValueError(
                    f"`num_frames`={num_frames} exceeds the motion modules' maximum of {self.motion_max_frames} "
                    "frames per pass: use window denoising (windows=None or True) or diffusers' FreeNoise."
                )
            return None
        settings = (
            WindowSettings(context_length=self._default_window())
            if windows is True
            else _as_settings(windows, WindowSettings, "windows")
        )
        if settings.context_length > self.motion_max_frames:
            raise ValueError(
                f"`context_length`={settings.context_length} exceeds the motion modules' maximum of "
                f"{self.motion_max_frames} frames."
            )
        if settings.context_length > num_frames:
            raise ValueError(
                f"`context_length`={settings.context_length} is larger than `num_frames`={num_frames}: use a window "
                "of at most num_frames, or windows=False for a single pass."
            )
        return settings

    def _default_window(self) -> int:
        """Frames per window when the call names none: ``WindowSettings``' default context length, at
        most the motion modules' maximum."""
        return min(WindowSettings().context_length, self.motion_max_frames)

    def _check_fifo_call(self, latents, callback_on_step_end, callback) -> None:
        """What FIFO-Diffusion does not take: it makes its own noise frame by frame, and has no
        step at which the whole video's latents exist."""
        problems = {
            "diffusers' FreeNoise (call pipe.disable_free_noise())": self.free_noise_enabled,
            "FreeInit (call pipe.disable_free_init())": self.free_init_enabled,
            "`latents`": latents is not None,
            "`callback_on_step_end` / `callback`": callback_on_step_end is not None or callback is not None,
        }
        given = [name for name, present in problems.items() if present]
        if given:
            raise ValueError(f"long_video='fifo' does not take {', '.join(given)}.")
        FrameStepper(self.scheduler)  # raises for schedulers that cannot step per frame

    def _fifo_window(self, settings: FifoSettings, windows) -> int:
        """FIFO's frames per model call: its own ``window``, else ``windows``' context length, else
        :meth:`_default_window`."""
        window = settings.window
        if window is None and isinstance(windows, (WindowSettings, dict)):
            window = _as_settings(windows, WindowSettings, "windows").context_length
        window = window or self._default_window()
        if window > self.motion_max_frames:
            raise ValueError(
                f"the FIFO window of {window} frames exceeds the motion modules' maximum of {self.motion_max_frames}."
            )
        return window

    def _plan_freelong(self, settings: SpectralBlendSettings, windows, num_frames: int):
        """FreeLong's window settings (FreeNoise noise over windows of the local length) and its
        SpectralBlend settings with ``local_frames`` resolved."""
        if self.free_noise_enabled:
            raise ValueError(
                "long_video='freelong' replaces diffusers' FreeNoise: call pipe.disable_free_noise() first."
            )
        if windows is False:
            raise ValueError(
                "long_video='freelong' sets its local window and noise with `windows`; windows=False is not "
                "meaningful."
            )
        length = settings.local_frames
        if windows is None or windows is True:
            window_settings = WindowSettings(context_length=length or self._default_window())
        else:
            window_settings = _as_settings(windows, WindowSettings, "windows")
        length = length or window_settings.context_length
        if length > self.motion_max_frames:
            raise ValueError(
                f"FreeLong's local window of {length} frames exceeds the motion modules' maximum of "
                f"{self.motion_max_frames}."
            )
        if window_settings.context_length > num_frames:
            window_settings = WindowSettings(
                num_frames,
                min(window_settings.context_stride, num_frames),
                window_settings.weighting,
                window_settings.noise_reuse,
            )
        stride = min(settings.local_stride, length)
        blend = SpectralBlendSettings(length, stride, settings.temporal_cutoff, settings.spatial_cutoff)
        return window_settings, blend

    @contextlib.contextmanager
    def _spectral_blend_for_call(self, settings: SpectralBlendSettings | None):
        """FreeLong's SpectralBlend on the motion modules for one call (on top of TiARA's)."""
        if settings is None:
            yield
            return
        enable_spectral_blend(self, settings)
        try:
            yield
        finally:
            disable_spectral_blend(self)

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


def _final_layer_norm(text_encoder):
    """The CLIP text encoder's final layer norm (under ``text_model`` before transformers 5)."""
    return getattr(text_encoder, "text_model", text_encoder).final_layer_norm


def _deprecated_callback(kwargs: dict) -> tuple[Callable | None, int | None]:
    """``callback`` / ``callback_steps`` (deprecated in diffusers for ``callback_on_step_end``)
    from the call's extra keyword arguments; any other extra argument is an error."""
    callback, callback_steps = kwargs.pop("callback", None), kwargs.pop("callback_steps", None)
    if kwargs:
        raise TypeError(f"unexpected argument(s) {sorted(kwargs)} for TiaraAnimateDiffPipeline.__call__.")
    for name, value in (("callback", callback), ("callback_steps", callback_steps)):
        if value is not None:
            deprecate(
                name,
                "1.0.0",
                f"Passing `{name}` as an input argument to `__call__` is deprecated, consider using "
                "`callback_on_step_end`",
            )
    if callback is not None and callback_steps is None:
        callback_steps = 1
    return callback, callback_steps


def _as_settings(value, cls, name):
    if value is None or isinstance(value, cls):
        return value
    if isinstance(value, dict):
        return cls(**value)
    raise TypeError(f"`{name}` must be a {cls.__name__}, a dict of its fields, or None; got {type(value).__name__}.")


def _blend_settings(prompt_blend) -> PromptBlendSettings | None:
    if prompt_blend is True:
        return PromptBlendSettings()
    if prompt_blend is False:
        return None
    if isinstance(prompt_blend, (PromptBlendSettings, dict)):
        return _as_settings(prompt_blend, PromptBlendSettings, "prompt_blend")
    raise TypeError(
        "`prompt_blend` must be True, False, a PromptBlendSettings or a dict of its fields; got "
        f"{type(prompt_blend).__name__}."
    )
