"""Video jobs: the settings of ``plugdiff video`` / a ``kind: video`` job, and the renderer that
turns them into a :class:`~plugdiff.pipelines.TiaraAnimateDiffPipeline` call."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from ..argument_checks import is_int
from ..attention_processors.promptblend_settings import PromptBlendSettings
from ..attention_processors.steps import check_step_range
from ..attention_processors.tiara_settings import TiaraSettings
from ..media.video_io import MAX_FPS, MIN_FPS, check_frame_size
from ..pipelines.animatediff.hosts import HOSTS, FifoSettings, WindowSettings
from ..samplers import SCHEDULERS, make_scheduler
from . import fields as f
from .rendered import Rendered

if TYPE_CHECKING:  # the settings and checks load without torch (fast --help and --check)
    import torch

    from ..pipelines import TiaraAnimateDiffPipeline

FORMATS = {"mp4": ".mp4", "gif": ".gif", "webp": ".webp", "png": ""}
"""``format`` choices and their suffix ("png": a folder of PNG frames)."""

MAX_STEPS, MAX_GUIDANCE, MAX_FRAMES, MAX_SIDE, MAX_WINDOW, MAX_UPSCALE = 1000, 100.0, 4096, 2048, 256, 16
MAX_TIARA_ALPHA = 100.0
MAX_SCHEDULE_BYTES, MAX_SCHEDULE_PROMPTS = 1_000_000, 1000


def frame_size(value) -> list[int]:
    """``N`` (square) or ``"WxH"`` as [width, height], each a positive multiple of 8."""
    if isinstance(value, str) and "x" in value.lower():
        parts = value.lower().split("x")
        sizes = [int(p) for p in parts if p.strip().isdigit()]
        if len(sizes) != 2 or len(parts) != 2:
            raise ValueError(f"must be N or WxH in pixels, {f.got(value)}")
    elif isinstance(value, str) and value.strip().isdigit():
        sizes = [int(value)] * 2
    elif is_int(value):
        sizes = [value] * 2
    else:
        raise ValueError(f"must be N or WxH in pixels, {f.got(value)}")
    if any(s < 8 or s % 8 or s > MAX_SIDE for s in sizes):
        raise ValueError(f"sides must be multiples of 8 pixels from 8 to {MAX_SIDE}, {f.got(value)}")
    return sizes


def tiara_setting(value) -> dict:
    """A TiARA strength (number, 0 switches it off) or a mapping of ``TiaraSettings`` fields."""
    settings = {"alpha": value} if not isinstance(value, dict) else f.mapping(value)
    allowed = [field.name for field in dataclasses.fields(TiaraSettings)]
    unknown = [key for key in settings if key not in allowed]
    if unknown:
        raise ValueError(f"unknown key {f.quote(unknown[0])}; allowed keys: {', '.join(allowed)}")
    if "alpha" in settings:
        f.number(0, MAX_TIARA_ALPHA)(settings["alpha"])
    TiaraSettings(**settings)
    return settings


def tiara_flag(text: str):
    """argparse type of ``--tiara``: a number (alpha) or a JSON object of ``TiaraSettings`` fields."""
    try:
        return float(text)
    except ValueError:
        return f.json_object(text)


def blend_steps(value) -> list[float]:
    """PromptBlend's step range: two fractions (t1, t2), as a list or ``"t1,t2"``."""
    if isinstance(value, str):
        try:
            value = [float(v) for v in value.split(",")]
        except ValueError:
            raise ValueError(f"must be two fractions t1,t2, {f.got(value)}") from None
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"must be two fractions t1,t2, {f.got(value)}")
    return list(check_step_range(value))  # what PromptBlendSettings(step_range=...) checks


FIELDS = (
    f.Field("name", None, f.optional(f.name), "job name: the output file's name without suffix (default: job-NNN)"),
    f.Field("prompt", None, f.optional(f.text), "one prompt for the whole video (or give a schedule)"),
    f.Field(
        "schedule",
        None,
        lambda v: v,
        "prompt schedule file ('<frame>: <prompt>' lines, or a JSON object); "
        "in a job file also an inline mapping {frame: prompt}",
    ),
    f.Field("negative_prompt", None, f.optional(f.text), "negative prompt"),
    f.Field("model", "shapesworld-t2v", f.text, "registry name (plugdiff models), local pipeline folder or hub id"),
    f.Field(
        "scheduler",
        None,
        f.optional(f.choice(*SCHEDULERS)),
        "sampler ('default': the model's own scheduler config; unset: the model's stored sampling defaults)",
        choices=tuple(SCHEDULERS),
    ),
    f.Field(
        "steps", None, f.optional(f.integer(1, MAX_STEPS)), "denoising steps (unset: the model's stored default)", int
    ),
    f.Field(
        "guidance",
        None,
        f.optional(f.number(0, MAX_GUIDANCE)),
        "classifier-free guidance scale (1: off; unset: the model's stored default)",
        float,
    ),
    f.Field("seed", 0, f.integer(0, f.SEED_MAX), "random seed", int),
    f.Field("frames", 64, f.integer(1, MAX_FRAMES), "number of frames", int),
    f.Field("size", None, f.optional(frame_size), "frame size N or WxH in pixels (default: the model's)"),
    f.Field(
        "window",
        WindowSettings().context_length,
        f.integer(1, MAX_WINDOW),
        "frames per denoising window (the motion module's length)",
        int,
    ),
    f.Field(
        "stride",
        WindowSettings().context_stride,
        f.integer(1, MAX_WINDOW),
        "frames between window starts (<= window)",
        int,
    ),
    f.Field(
        "long_video",
        "windows",
        f.choice(*HOSTS),
        "long-video method: windows (window denoising, FreeNoise noise), "
        "fifo (FIFO-Diffusion: flat memory; steps must be a multiple of window) or freelong (SpectralBlend "
        "attention over all frames at once: memory grows with frames); see docs/long-video.md",
        choices=HOSTS,
    ),
    f.Field(
        "fifo_lookahead",
        True,
        f.boolean,
        "FIFO: lookahead denoising (half-overlapping windows, about 2x the model calls; window must be even)",
        bool,
    ),
    f.Field(
        "tiara",
        TiaraSettings().alpha,
        tiara_setting,
        "TiARA strength alpha, 0: off; or a mapping (flag: JSON) of TiaraSettings fields, "
        "e.g. {\"alpha\": 5, \"window_length\": 9, \"adaptive\": false}",
        tiara_flag,
    ),
    f.Field(
        "prompt_blend",
        True,
        f.boolean,
        "PromptBlend between scheduled prompts (off: diffusers' linear interpolation)",
        bool,
    ),
    f.Field(
        "transition",
        None,
        f.optional(f.number(0, MAX_FRAMES, exclusive=True)),
        "PromptBlend transition: a fraction of each gap (<= 1) or frames (> 1); unset: the model's stored default",
        float,
    ),
    f.Field(
        "blend_steps",
        list(PromptBlendSettings().step_range),
        blend_steps,
        "PromptBlend: fractions t1,t2 of the trajectory where every cross-attention layer gets the blended condition",
    ),
    f.Field(
        "format", "mp4", f.choice(*FORMATS), "output format (png: a folder of PNG frames)", choices=tuple(FORMATS)
    ),
    f.Field("fps", 8.0, f.number(MIN_FPS, MAX_FPS), "frames per second of the file", float),
    f.Field(
        "upscale", 1, f.integer(1, MAX_UPSCALE), "enlarge frames by this integer factor (nearest) when saving", int
    ),
)


def check(settings: dict, base_dir: Path) -> dict:
    """Cross-field checks of a video job; ``schedule`` is read (a file path is relative to
    ``base_dir``) and replaced by its content. Raises ``ValueError("field: message")``."""
    from ..pipelines.animatediff.prompt_schedule import PromptSchedule, read_schedule_file

    model_defaults(settings)
    if (settings["prompt"] is None) == (settings["schedule"] is None):
        raise ValueError("prompt: give exactly one of prompt and schedule")
    schedule = settings["schedule"]
    if schedule is not None:
        try:
            if isinstance(schedule, str):
                schedule = read_schedule_file(_schedule_file(base_dir / Path(schedule).expanduser()))
            elif not isinstance(schedule, dict) or len(schedule) > MAX_SCHEDULE_PROMPTS:
                raise ValueError(
                    f"must be a file path or a mapping {{frame: prompt}} of at most "
                    f"{MAX_SCHEDULE_PROMPTS} prompts, {f.got(schedule)}"
                )
            parsed = PromptSchedule.parse(schedule)
            if len(parsed.frames) > MAX_SCHEDULE_PROMPTS:
                raise ValueError(f"at most {MAX_SCHEDULE_PROMPTS} prompts, got {len(parsed.frames)}")
            parsed.check_frames(settings["frames"])
        except (ValueError, TypeError) as err:
            raise ValueError(f"schedule: {err}") from None
        settings["schedule"] = schedule
    if settings["size"] is not None:
        width, height = settings["size"]
        k = settings["upscale"]
        try:
            check_frame_size(FORMATS[settings["format"]], height * k, width * k)
        except ValueError as err:
            raise ValueError(f"upscale: {settings['size'][0]}x{settings['size'][1]} x {k}: {err}") from None
    if settings["stride"] > settings["window"]:
        raise ValueError(f"stride: must not exceed window={settings['window']}, got {settings['stride']}")
    if settings["long_video"] == "fifo":
        _check_fifo(settings)
    try:
        tiara = TiaraSettings(**settings["tiara"])
        if tiara.alpha > 0:  # off: nothing to fit in the window (as the pipeline checks it)
            tiara.check_frames(min(settings["frames"], settings["window"]))
    except ValueError as err:
        raise ValueError(f"tiara: {err}") from None
    return settings


def model_defaults(settings: dict) -> dict:
    """Fill the sampling settings left unset (scheduler, steps, guidance, transition) with the
    ones stored with the job's model for the job's long-video host
    (:func:`plugdiff.weights.sampling_defaults`; models that store none get diffusers' usual
    settings). The sidecar then records what was used."""
    from ..weights import sampling_defaults

    unset = [key for key in ("scheduler", "steps", "guidance", "transition") if settings[key] is None]
    if unset:
        try:
            stored = sampling_defaults(settings["model"], host=settings["long_video"])
        except ValueError as err:
            raise ValueError(f"model: {err}") from None
        settings.update({key: stored[key] for key in unset})
    return settings


FIFO_REFUSED_SCHEDULERS = (
    "accelerated-ddim",
    "accelerated-logsnr-2m",
    "accelerated-logsnr-3m",
    "accelerated-logsnr-pc",
    "accelerated-logsnr-gauss",
    "accelerated-logsnr-sde",
    "dpm-solver",
    "unipc",
)
"""Samplers FIFO-Diffusion cannot use: they combine earlier model outputs of one trajectory, while FIFO
steps every frame at its own level (plugdiff.pipelines.animatediff.fifo.FrameStepper)."""


def _check_fifo(settings: dict) -> None:
    """FIFO's cross-field rules, each error naming its field: a window that can be halved with
    lookahead, steps a multiple of the window, a sampler without memory."""
    if settings["window"] < 2:
        raise ValueError(f"window: FIFO-Diffusion needs a window of at least 2 frames, got {settings['window']}")
    try:
        fifo = FifoSettings(window=settings["window"], lookahead=settings["fifo_lookahead"])
        fifo.partitions(settings["steps"], settings["window"])
    except ValueError as err:
        field = "window" if "even window" in str(err) else "steps"
        raise ValueError(f"{field}: {err}") from None
    if settings["scheduler"] in FIFO_REFUSED_SCHEDULERS:
        raise ValueError(
            f"scheduler: {settings['scheduler']!r} keeps memory of earlier steps and cannot step each frame at its "
            "own level, as FIFO-Diffusion does; use default, ddim, ddpm, euler, euler-ancestral or accelerated-ddpm"
        )


def _schedule_file(path: Path) -> Path:
    """``path`` when it is a regular file of at most MAX_SCHEDULE_BYTES (not a device or a pipe)."""
    if not path.is_file():
        raise ValueError(f"could not read the schedule file {path}: no such file, or not a regular file")
    if path.stat().st_size > MAX_SCHEDULE_BYTES:
        raise ValueError(
            f"the schedule file {path} is {path.stat().st_size} bytes; at most {MAX_SCHEDULE_BYTES} are read"
        )
    return path


class VideoRenderer:
    """Renders video jobs with one loaded :class:`TiaraAnimateDiffPipeline`."""

    @staticmethod
    def pipeline_class() -> type[TiaraAnimateDiffPipeline]:
        """The pipeline class a video model is loaded as (imported here: it needs diffusers)."""
        from ..pipelines import TiaraAnimateDiffPipeline

        return TiaraAnimateDiffPipeline

    def __init__(self, pipe: TiaraAnimateDiffPipeline):
        self.pipe = pipe
        self.pipelines = [pipe]
        self.default_scheduler = pipe.scheduler

    @staticmethod
    def output_name(settings: dict) -> str:
        return settings["name"] + FORMATS[settings["format"]]

    def memory_estimate(self, settings: dict) -> int:
        """Bytes a video job needs at least beyond the model: the decoded frames in float32 (from
        the VAE, and upscaled), the upscaled uint8 copy for the writer, and the latents (the
        VAE's channels at its scale; latents, guidance batch and noise prediction)."""
        pipe = self.pipe
        width, height = settings["size"] or (pipe.unet.config.sample_size * pipe.vae_scale_factor,) * 2
        frames, k = settings["frames"], settings["upscale"]
        pixels = frames * height * width
        latents = (
            frames
            * pipe.unet.config.in_channels
            * (height // pipe.vae_scale_factor)
            * (width // pipe.vae_scale_factor)
        )
        return pixels * 3 * 4 + pixels * k * k * 3 * (4 + 1) + 4 * latents * 4

    def __call__(self, settings: dict, generator: torch.Generator) -> Rendered:
        from ..media import save_video

        pipe = self.pipe
        k = settings["upscale"]
        side = pipe.unet.config.sample_size * pipe.vae_scale_factor
        width, height = settings["size"] or (side, side)
        check_frame_size(FORMATS[settings["format"]], height * k, width * k)  # before rendering, not at the write
        pipe.scheduler = make_scheduler(settings["scheduler"], self.default_scheduler)
        width, height = settings["size"] or (None, None)
        transition = settings["transition"]
        blend = {
            "transition": int(transition) if transition > 1 else transition,
            "step_range": tuple(settings["blend_steps"]),
        }
        blend = blend if settings["prompt_blend"] else False
        frames = pipe(
            prompt=settings["prompt"] if settings["schedule"] is None else settings["schedule"],
            negative_prompt=settings["negative_prompt"],
            num_frames=settings["frames"],
            num_inference_steps=settings["steps"],
            guidance_scale=settings["guidance"],
            height=height,
            width=width,
            tiara=settings["tiara"],
            windows=_windows(settings),
            long_video=_long_video(settings),
            prompt_blend=blend,
            generator=generator,
            output_type="pt",
        ).frames[0]
        frames = frames.repeat_interleave(k, dim=-1).repeat_interleave(k, dim=-2)
        results = {
            "frames": int(frames.shape[0]),
            "height": int(frames.shape[-2]),
            "width": int(frames.shape[-1]),
            "scheduler_class": type(pipe.scheduler).__name__,
        }
        return Rendered(lambda path: save_video(frames, path, fps=settings["fps"]), results, frames)


def _windows(settings: dict):
    """Window settings for the pipeline; a video shorter than one window is one pass over its
    frames (the pipeline refuses a window longer than the video). FIFO takes its window from
    ``long_video``; FreeLong uses a window longer than the video as is (it then blends nothing)."""
    if settings["long_video"] == "fifo":
        return None
    if settings["frames"] < settings["window"]:
        return None if settings["long_video"] == "freelong" else False
    return {"context_length": settings["window"], "context_stride": settings["stride"]}


def _long_video(settings: dict):
    """The pipeline's ``long_video``: None (windows), or FIFO / FreeLong with the job's window (and,
    for FreeLong, its stride between local attention windows)."""
    if settings["long_video"] == "fifo":
        return {"host": "fifo", "window": settings["window"], "lookahead": settings["fifo_lookahead"]}
    if settings["long_video"] == "freelong":
        return {"host": "freelong", "local_frames": settings["window"], "local_stride": settings["stride"]}
    return None
