"""What the web UI's buttons do, without gradio: each action turns form values into a job (so
it is validated exactly like the command line), renders it into a private temporary folder with
its sidecar, and returns what the page shows. Bad input raises :class:`DemoInputError` with a
message for the user and the setting it concerns; server paths never appear in what is returned
for display.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..argument_checks import ArgumentError, check_int, quote
from ..attention_processors.tiara_settings import TiaraSettings
from ..media import save_video
from ..media.fileio import write_json
from ..media.image_io import to_pil
from ..pipelines.animatediff.hosts import WindowSettings
from ..samplers import SCHEDULERS, make_scheduler
from .batch import (
    Renderers,
    RunOptions,
    process_state,
    render_and_write,
    resolve_device,
)
from .fields import shorten
from .jobs import JobError, make_job

MAX_FRAMES = 256
MAX_IMAGE_SIDE = 2048
MAX_CPU_FRAME_STEPS = 8192
"""Work of one video request on a CPU, in frames x steps (x 2 with the comparison): about 3
minutes of the bundled model on two cores. Larger requests are refused with what to lower."""
KEPT_RESULTS = 20
"""Result folders kept in the work folder; older ones are removed as new ones are made."""
PREVIEW_SIDE = 128  # small model outputs are enlarged (nearest) to this for display
EXAMPLE_FRAMES = {
    "red circle on blue": dict(shape="circle", colour="red", background="blue"),
    "yellow square on red": dict(shape="square", colour="yellow", background="red"),
    "green triangle on white": dict(shape="triangle", colour="green", background="white"),
}
"""The bundled restore examples: ShapesWorld frames rendered on demand (no files involved)."""


class DemoInputError(ValueError):
    """Input the user can fix; the message says what is allowed (kept short). ``field`` names
    the setting it concerns, as a job names it (``"frames"``, ``"schedule"``, ``"image"``; the
    sampler comparison's list: ``"samplers"``), whatever the message's wording; None: the request
    as a whole. The web UI shows the message under that setting's input."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(shorten(message))
        self.field = field


@dataclass(frozen=True)
class RefusedUpload:
    """An upload the web UI's own check refused from the file's header, before anything decoded
    it (what the image input hands the action instead of a path); the action raises the message
    as a :class:`DemoInputError`."""

    message: str


class DemoSession:
    """The models and the working folder behind one running web UI.

    Args:
        video_model: registry name, folder or hub id of an AnimateDiff-class model.
        image_model: the unconditional image prior for restoration and the sampler comparison.
        device: as ``plugdiff --device``.
        work_dir: where outputs are written (default: a new temporary folder, removed when the
            session ends). At most KEPT_RESULTS results are kept; the oldest go first.
    """

    def __init__(
        self,
        video_model: str = "shapesworld-t2v",
        image_model: str = "shapesworld-ddpm",
        device: str = "auto",
        work_dir=None,
    ):
        self.video_model, self.image_model = video_model, image_model
        self.device = resolve_device(device, process_state(device))
        self.renderers = Renderers(RunOptions(device=device), self.device)
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="plugdiff-demo-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._remove = (
            weakref.finalize(self, shutil.rmtree, self.work_dir, ignore_errors=True) if work_dir is None else None
        )

    @property
    def video_defaults(self) -> dict:
        """The video model's stored sampling settings (scheduler, steps, guidance, transition),
        what the web UI's controls start at."""
        from ..weights import sampling_defaults

        return sampling_defaults(self.video_model)

    def host_sampling(self, host: str) -> tuple[str, int]:
        """The video model's stored scheduler and steps for the long-video ``host`` (FIFO has its
        own: it cannot step samplers with memory, and its steps are a multiple of the window);
        the web UI sets its controls to them when the host changes."""
        from ..weights import sampling_defaults

        stored = sampling_defaults(self.video_model, host=host)
        return stored["scheduler"], stored["steps"]

    def close(self) -> None:
        """Remove the temporary working folder now (also done when the session is collected or
        the interpreter exits); a ``work_dir`` given by the caller is kept."""
        if self._remove is not None:
            self._remove()

    def _result_folder(self, prefix: str) -> Path:
        """A new folder for one result; the oldest beyond KEPT_RESULTS are removed."""
        folder = Path(tempfile.mkdtemp(dir=self.work_dir, prefix=prefix))
        results = sorted((p for p in self.work_dir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime_ns)
        for old in results[: max(0, len(results) - KEPT_RESULTS)]:
            if old != folder:
                shutil.rmtree(old, ignore_errors=True)
        return folder

    # ------------------------------------------------------------------ long video
    def video(
        self,
        schedule_rows,
        negative_prompt: str = "",
        frames: int = 32,
        window: int = WindowSettings.context_length,
        stride: int = WindowSettings.context_stride,
        tiara: bool = True,
        alpha: float = TiaraSettings.alpha,
        window_length: int = TiaraSettings.window_length,
        adaptive: bool = TiaraSettings.adaptive,
        prompt_blend: bool = True,
        transition: float | None = None,
        scheduler: str | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        seed: int = 0,
        compare: bool = False,
        fps: float = 8.0,
        upscale: int = 4,
        long_video: str = "windows",
    ) -> dict:
        """Render a video from schedule rows [(frame, prompt), ...] with the long-video method
        ``long_video`` ("windows", "fifo" or "freelong"). ``transition``, ``scheduler``, ``steps``
        and ``guidance`` left None take the video model's stored defaults (:attr:`video_defaults`).

        Returns:
            {"mp4": path, "gif": path, "settings": dict (no server paths), "settings_file": path,
             "mp4_without_tiara": path or None}
        """
        prompt = _schedule(schedule_rows)
        frames = _whole_setting(frames, "frames", 1, MAX_FRAMES)
        values = {
            **prompt,
            "negative_prompt": (negative_prompt or "").strip() or None,
            "model": self.video_model,
            "scheduler": scheduler,
            "steps": None if steps is None else _whole_setting(steps, "steps", 1, 1000),
            "guidance": guidance,
            "seed": _whole_setting(seed, "seed", 0),
            "frames": frames,
            "window": _whole_setting(window, "window", 1),
            "stride": _whole_setting(stride, "stride", 1),
            "tiara": {
                "alpha": float(alpha) if tiara else 0.0,
                "window_length": _whole_setting(window_length, "tiara", 1, label="TiARA window length"),
                "adaptive": bool(adaptive),
            },
            "prompt_blend": bool(prompt_blend),
            "transition": transition,
            "fps": fps,
            "upscale": _whole_setting(upscale, "upscale", 1, 16),
            "long_video": long_video,
        }
        job = self._job("video", {**values, "name": "video"})
        self._check_work(job.settings, compare)
        folder = self._result_folder("video-")
        rendered = self._render(job, folder / "video.mp4")
        gif = save_video(rendered.media, folder / "video.gif", fps=job.settings["fps"])
        without = None
        if compare:
            off = self._job("video", {**values, "name": "without-tiara", "tiara": {**values["tiara"], "alpha": 0.0}})
            without = folder / "without-tiara.mp4"
            self._render(off, without)
        settings = job.settings
        return {
            "mp4": str(folder / "video.mp4"),
            "gif": str(gif),
            "settings": settings,
            "settings_file": str(write_json(folder / "settings.json", settings, indent=2)),
            "mp4_without_tiara": str(without) if without else None,
        }

    # ------------------------------------------------------------------ restore
    def restore(
        self,
        image: np.ndarray | None,
        example: str | None,
        operator: str = "sr4",
        noise: float = 0.05,
        method: str = "dpnp",
        samples: int = 2,
        simulate: bool = True,
        seed: int = 0,
        dps_steps: int = 250,
    ) -> dict:
        """Restore an uploaded picture (a file path, or a uint8 (H, W[, C]) array) or a named example.
        DPnP runs the authors' recipe (a 186-step DPS warm start, then 16 annealing steps x 4 UNet
        evaluations: 250 in all); DPS runs ``dps_steps``; DAPS spends as many UNet evaluations, as
        ``dps_steps`` / 2 annealing levels of 2 ODE steps (the benchmark's split at 250).

        Returns:
            {"pictures": [(PIL image, caption), ...] (clean, measurement, mean, samples, std),
             "settings": dict (no server paths), "results": dict}
        """
        if isinstance(image, RefusedUpload):
            raise DemoInputError(image.message, "image")
        folder = self._result_folder("restore-")
        source = folder / "input.png"
        if image is not None:
            (_picture_file(image) if isinstance(image, (str, Path)) else _picture(image)).save(source)
            origin = "upload"
        elif example in EXAMPLE_FRAMES:
            _example(example).save(source)
            origin = f"example: {example}"
        else:
            raise DemoInputError(f"image: upload an image or pick an example ({', '.join(EXAMPLE_FRAMES)}).", "image")
        values = {
            "name": "restore",
            "image": str(source),
            "operator": operator,
            "noise": noise,
            "method": method,
            "samples": _whole_setting(samples, "samples", 1, 16),
            "simulate": bool(simulate),
            "seed": _whole_setting(seed, "seed", 0),
            "steps": _whole_setting(dps_steps, "steps", 1, 1000, label="DPS steps"),
            "model": self.image_model,
        }
        if method == "daps":
            values.update(levels=max(1, values["steps"] // 2), ode_steps=2)
        job = self._job("restore", values)
        rendered = self._render(job, folder / "restore")
        captions = {
            "truth.png": "clean",
            "measurement.png": "measurement",
            "mean.png": "posterior mean",
            "std.png": "per-pixel std (white: the largest)",
        }
        order = [n for n in captions if n in rendered.media and n != "std.png"]
        order += sorted(n for n in rendered.media if n.startswith("sample_"))[:4] + ["std.png"]
        pictures = [
            (_preview(rendered.media[n]), captions.get(n, n.removesuffix(".png").replace("_", " "))) for n in order
        ]
        return {"pictures": pictures, "settings": {**job.settings, "image": origin}, "results": rendered.results}

    # ------------------------------------------------------------------ samplers
    def samplers(self, names, steps: int = 10, seed: int = 0) -> dict:
        """One seed, the same starting noise, each named scheduler at ``steps`` steps on the
        image prior. Returns {"pictures": [(PIL, caption)], "rows": [[name, NFE, seconds]]}."""
        names = [n for n in (names or []) if n]
        unknown = [n for n in names if n not in SCHEDULERS]
        if not names or unknown:
            raise DemoInputError(
                f"choose one or more samplers from: {', '.join(SCHEDULERS)}"
                + (f" (not {unknown[0]!r})" if unknown else ""),
                "samplers",
            )
        steps, seed = _whole_setting(steps, "steps", 1, 1000), _whole_setting(seed, "seed", 0)
        from ..samplers.loop import denoise

        pipe = self.renderers.load("restore", self.image_model).pipes["dpnp"]  # the Restore tab's prior, loaded once
        config = pipe.unet.config
        size = (config.sample_size,) * 2 if isinstance(config.sample_size, int) else tuple(config.sample_size)
        noise = torch.randn((1, config.in_channels, *size), generator=torch.Generator().manual_seed(seed)).to(
            self.device
        )

        def eps(x, t):
            return pipe.unet(x, t).sample

        pictures, rows = [], []
        for name in names:
            scheduler = make_scheduler(name, pipe.scheduler)
            start = time.perf_counter()
            image, calls = denoise(
                scheduler, eps, noise, steps, generator=torch.Generator(self.device).manual_seed(seed)
            )
            seconds = time.perf_counter() - start
            pictures.append((_preview(image), f"{name}: {calls} NFE, {seconds:.2f} s"))
            rows.append([name, calls, round(seconds, 3)])
        return {"pictures": pictures, "rows": rows}

    # ------------------------------------------------------------------ helpers
    def _check_work(self, settings: dict, compare: bool) -> None:
        """Refuse on a CPU a video request over MAX_CPU_FRAME_STEPS (frames x steps, x 2 with
        the comparison), saying what to lower."""
        work = settings["frames"] * settings["steps"] * (2 if compare else 1)
        if self.device.type == "cpu" and work > MAX_CPU_FRAME_STEPS:
            raise DemoInputError(
                f"this request is {settings['frames']} frames x {settings['steps']} steps"
                f"{' x 2 (the comparison)' if compare else ''} = {work} frame-steps; on a CPU at most "
                f"{MAX_CPU_FRAME_STEPS} (a few minutes): lower the frames or steps, or turn off the comparison."
            )

    def _job(self, kind: str, values: dict):
        try:
            return make_job(kind, values, label="settings")
        except JobError as err:
            raise DemoInputError(f"{err.field or 'settings'}: {err.message}", err.field) from None

    def _render(self, job, output: Path):
        try:
            return render_and_write(job, output, self.renderers)
        except (ValueError, TypeError) as err:  # e.g. a size the model cannot take
            raise DemoInputError(str(err)) from None


def _whole(value, name: str, low: int, high: int | None = None) -> int:
    """A whole number from a form field (gradio numbers arrive as floats, table cells as text)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = value  # refused by the check, quoted as given
    try:
        return check_int(number, None, minimum=low, maximum=high, whole=True)
    except ArgumentError as err:
        raise DemoInputError(f"{name}: must be {err.allowed}, got {quote(value)}.") from None


def _whole_setting(value, field: str, low: int, high: int | None = None, *, label: str | None = None) -> int:
    """:func:`_whole` for the setting ``field`` (``label``: how the message names it, default
    ``field``); its error carries ``field``."""
    try:
        return _whole(value, label or field, low, high)
    except DemoInputError as err:
        err.field = field
        raise


def _schedule(rows) -> dict:
    """Schedule editor rows [(frame, prompt), ...] as job values: one prompt, or a schedule."""
    if hasattr(rows, "values") and hasattr(rows, "columns"):  # a pandas DataFrame from gr.Dataframe
        rows = rows.values.tolist()
    items = []
    for number, row in enumerate(rows or [], start=1):
        frame, text = (list(row) + [None, None])[:2]
        text = "" if text is None else str(text).strip()
        if not text and (frame is None or str(frame).strip() == ""):
            continue  # a blank row
        if not text:
            raise DemoInputError(f"prompt schedule row {number}: the prompt is empty.", "schedule")
        items.append((_whole_setting(frame, "schedule", 0, label=f"prompt schedule row {number}: frame"), text))
    if not items:
        raise DemoInputError("prompt schedule: write at least one prompt (frame 0).", "schedule")
    if len(items) == 1 and items[0][0] == 0:
        return {"prompt": items[0][1]}
    frames = [f for f, _ in items]
    if len(set(frames)) != len(frames):
        raise DemoInputError(f"prompt schedule: each frame may appear once, got frames {frames}.", "schedule")
    return {"schedule": {str(f): text for f, text in sorted(items)}}


def _picture(array) -> Image.Image:
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (1, 3, 4)):
        raise DemoInputError(
            f"image: expected an 8-bit gray or RGB picture, got an array of {array.dtype} {array.shape}.", "image"
        )
    if max(array.shape[:2]) > MAX_IMAGE_SIDE or min(array.shape[:2]) < 8:
        raise DemoInputError(
            f"image: sides must be 8 to {MAX_IMAGE_SIDE} pixels, got {array.shape[1]}x{array.shape[0]}.", "image"
        )
    image = Image.fromarray(array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array)
    return image.convert("RGB")


def upload_refusal(path) -> str | None:
    """Why the picture file at ``path`` is refused, read from its header alone (nothing is
    decoded; PIL's own decompression-bomb limit is never reached); None: it may be decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below by its sides
            with Image.open(path) as image:
                width, height = image.size
    except Image.DecompressionBombError:
        return (
            f"image: the picture has more than {2 * Image.MAX_IMAGE_PIXELS} pixels; sides must be 8 to "
            f"{MAX_IMAGE_SIDE} pixels."
        )
    except Image.UnidentifiedImageError:
        return "image: not a picture file this app can read (PNG, JPEG, WebP, GIF, BMP, ...)."
    except (OSError, ValueError, SyntaxError) as err:
        return f"image: could not read the picture ({type(err).__name__})."
    if max(width, height) > MAX_IMAGE_SIDE or min(width, height) < 8:
        return f"image: sides must be 8 to {MAX_IMAGE_SIDE} pixels, got {width}x{height}."
    return None


def _picture_file(path) -> Image.Image:
    """An uploaded picture file, its size checked from the header before it is decoded."""
    refusal = upload_refusal(path)
    if refusal is not None:
        raise DemoInputError(refusal, "image")
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, Image.DecompressionBombError) as err:
        raise DemoInputError(f"image: could not read the picture ({type(err).__name__}).", "image") from None


def _example(name: str) -> Image.Image:
    from ..shapesworld.world import ClipSpec, render_frames

    spec = ClipSpec(direction="still", speed=0.0, radius=6.0, start=(16.0, 16.0), **EXAMPLE_FRAMES[name])
    return to_pil(render_frames([spec], [0], size=64))


def _preview(x: torch.Tensor) -> Image.Image:
    """A (1, C, H, W) image in [-1, 1] as a PIL image enlarged (nearest) to about PREVIEW_SIDE."""
    image = to_pil(x)
    scale = max(1, PREVIEW_SIDE // max(image.size))
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST)
