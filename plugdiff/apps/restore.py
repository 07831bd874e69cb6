"""Restore jobs: the settings of ``plugdiff restore`` / a ``kind: restore`` job, and the renderer
that measures (``simulate``) or reads the measurement and samples the posterior with
:class:`~plugdiff.pipelines.DPnPPipeline`, :class:`~plugdiff.pipelines.DPSPipeline` or
:class:`~plugdiff.pipelines.DAPSPipeline`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..media.fileio import atomic_folder
from ..pipelines.posterior.recipe_names import RECIPES
from . import fields as f
from .rendered import Rendered

if TYPE_CHECKING:  # the settings load without torch (fast --help); operators and renderers import it
    import torch

    from ..pipelines import DPnPPipeline

OPERATORS = {
    "sr4": ("super_resolution", {"factor": 4}),
    "sr2": ("super_resolution", {"factor": 2}),
    "inpaint-box": ("inpainting", {"mask": "box"}),
    "inpaint-random": ("inpainting", {"mask": "random"}),
    "blur": ("gaussian_blur", {}),
    "motion-blur": ("motion_blur", {}),
    "phase-retrieval": ("phase_retrieval", {}),
    "1bit": ("quantized_1bit", {}),
}
"""``operator`` choices: the library operator (:data:`plugdiff.pipelines.posterior.operators.OPERATORS`)
and its preset arguments; ``operator_options`` adds or overrides arguments."""

MAX_NOISE, MAX_SAMPLES, MAX_STEPS, MAX_STEP_SIZE, MAX_ETAS, MAX_ODE_STEPS = 10.0, 256, 1000, 100.0, 1000, 50
MAX_INPUT_BYTES, MAX_INPUT_PIXELS = 100_000_000, 4096 * 4096
MAX_OPTION = 256

#: Posterior samplers: the pipeline each ``method`` runs.
METHODS = ("dpnp", "dps", "daps")
_NOISE_ARGUMENT = {"quantized_1bit": "scale"}  # what ``noise`` sets; noise_std for the rest
_NOT_IMAGES = ("phase-retrieval",)  # measurements that are not pictures: .npy only


def etas_setting(value):
    """A DPnP annealing preset name, a list of noise levels, or comma-separated noise levels."""
    from ..pipelines.posterior.annealing import resolve_etas

    if isinstance(value, str) and "," in value:
        try:
            value = [float(v) for v in value.split(",")]
        except ValueError:
            raise ValueError(f"must be a preset name or comma-separated numbers, {f.got(value)}") from None
    if isinstance(value, (list, tuple)) and len(value) > MAX_ETAS:
        raise ValueError(f"must list at most {MAX_ETAS} noise levels, {f.got(value)}")
    resolve_etas(value)
    return value


def operator_options(value) -> dict:
    """Further operator arguments: a mapping of names to numbers (at most MAX_OPTION in size),
    strings or booleans, so that no option can ask for an absurd kernel or factor."""
    options = f.mapping(value)
    for key, option in options.items():
        if isinstance(option, (int, float)) and not isinstance(option, bool) and not abs(option) <= MAX_OPTION:
            raise ValueError(f"{key!s:.40}: numbers must be at most {MAX_OPTION} in size, {f.got(option)}")
        if not isinstance(option, (int, float, str, bool)) and option is not None:
            raise ValueError(f"{key!s:.40}: must be a number, a string or true / false, {f.got(option)}")
    return options


FIELDS = (
    f.Field("name", None, f.optional(f.name), "job name: the output folder's name (default: job-NNN)"),
    f.Field(
        "image",
        f.REQUIRED,
        f.text,
        "the clean image with simulate; otherwise the measurement "
        "(an image, or .npy in the operator's measurement space)",
    ),
    f.Field("operator", f.REQUIRED, f.choice(*OPERATORS), "forward model", choices=tuple(OPERATORS)),
    f.Field(
        "noise",
        None,
        f.optional(f.number(0, MAX_NOISE)),
        "measurement noise std in [-1, 1] units (1bit: the logistic scale); default: the operator's",
        float,
    ),
    f.Field(
        "simulate",
        False,
        f.boolean,
        "measure the clean image with the operator (seeded) and save the truth and measurement beside the result",
        bool,
    ),
    f.Field("method", "dpnp", f.choice(*METHODS), "posterior sampler", choices=METHODS),
    f.Field("samples", 4, f.integer(1, MAX_SAMPLES), "independent posterior samples", int),
    f.Field("model", "shapesworld-ddpm", f.text, "unconditional image prior: registry name, local folder or hub id"),
    f.Field("seed", 0, f.integer(0, f.SEED_MAX), "random seed (measurement noise and sampling)", int),
    f.Field(
        "recipe",
        "authors",
        f.choice(*RECIPES),
        "DPnP / DAPS settings: authors (DPnP: DPS warm start, official "
        "schedule, sharpened likelihood; DAPS: DAPS-1K, 200 levels x 5 ODE steps) or posterior (exact-posterior "
        "mode)",
        choices=RECIPES,
    ),
    f.Field(
        "etas",
        None,
        f.optional(etas_setting),
        "DPnP annealing: official, accurate, or comma-separated noise levels (default: the recipe's)",
    ),
    f.Field(
        "dds_steps",
        None,
        f.optional(f.integer(1, MAX_STEPS)),
        "DPnP: UNet evaluations per denoising step (default: the recipe's, 4)",
        int,
    ),
    f.Field(
        "warm_steps",
        None,
        f.optional(f.integer(1, MAX_STEPS)),
        "DPnP: DPS warm-start steps (default: the recipe's, 186)",
        int,
    ),
    f.Field(
        "steps",
        250,
        f.optional(f.integer(1, MAX_STEPS)),
        "DPS: timesteps (default 250, the budget of DPnP's recipe)",
        int,
    ),
    f.Field(
        "levels",
        None,
        f.optional(f.integer(1, MAX_STEPS)),
        "DAPS: annealing levels (default: the recipe's, 200 "
        "for authors, 250 for posterior; 125 levels x 2 ODE steps is DPnP's budget of 250)",
        int,
    ),
    f.Field(
        "ode_steps",
        None,
        f.optional(f.integer(1, MAX_ODE_STEPS)),
        "DAPS: UNet evaluations per level, the "
        "ODE's Euler steps (default: the recipe's, 5 for authors, 1 for posterior)",
        int,
    ),
    f.Field(
        "step_size",
        None,
        f.optional(f.number(0, MAX_STEP_SIZE, exclusive=True)),
        "DPS likelihood step zeta, also DPnP's warm start (default: per operator)",
        float,
    ),
    f.Field(
        "operator_options",
        {},
        operator_options,
        "further operator arguments, e.g. {\"sigma\": 2.0} for blur (on the command line: JSON)",
        f.json_object,
    ),
)


def build_operator(settings: dict):
    """The forward operator a restore job names (preset + noise + operator_options)."""
    from ..pipelines.posterior.operators import make_operator

    library_name, preset = OPERATORS[settings["operator"]]
    kwargs = dict(preset)
    if settings["noise"] is not None:
        kwargs[_NOISE_ARGUMENT.get(library_name, "noise_std")] = settings["noise"]
    kwargs.update(settings["operator_options"])
    return make_operator(library_name, **kwargs)


def check(settings: dict, base_dir: Path) -> dict:
    """Cross-field checks of a restore job; ``image`` is resolved against ``base_dir`` and must be
    readable. Raises ``ValueError("field: message")``."""
    image = (base_dir / Path(settings["image"]).expanduser()).resolve()
    settings["image"] = str(image)
    is_array = image.suffix.lower() == ".npy"
    try:
        _check_input_file(image, is_array)
    except FileNotFoundError:
        raise ValueError(f"image: no such file: {image}") from None
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as err:
        raise ValueError(f"image: could not read {image}: {err}") from None
    if settings["simulate"] and is_array:
        raise ValueError("image: simulate measures a clean picture; give an image file, not .npy")
    if not settings["simulate"] and not is_array and settings["operator"] in _NOT_IMAGES:
        raise ValueError(
            f"image: {settings['operator']} measures Fourier magnitudes, not a picture: set simulate to measure a "
            "clean image, or give the .npy measurement (a simulate run writes measurement.npy)"
        )
    try:
        build_operator(settings)
    except (ValueError, TypeError, RuntimeError, MemoryError) as err:  # also torch's own for absurd sizes
        raise ValueError(f"operator_options: {f.quote(str(err))}") from None
    return settings


def _check_input_file(path: Path, is_array: bool) -> None:
    """A regular file of at most MAX_INPUT_BYTES: an .npy array of at most MAX_INPUT_PIXELS
    values (its header only is read), or an image whose header says at most MAX_INPUT_PIXELS."""
    if not path.is_file():
        raise FileNotFoundError(path)
    if path.stat().st_size > MAX_INPUT_BYTES:
        raise ValueError(f"{path.stat().st_size} bytes; at most {MAX_INPUT_BYTES} are read")
    if is_array:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        count = array.size
    else:
        with Image.open(path) as picture:  # reads the header only
            count = picture.width * picture.height
            picture.verify()
    if count > MAX_INPUT_PIXELS:
        raise ValueError(f"{count} values; at most {MAX_INPUT_PIXELS} (4096 x 4096) are read")


class RestoreRenderer:
    """Renders restore jobs with one loaded image prior (a :class:`DPnPPipeline`; DPS and DAPS share
    its UNet and scheduler)."""

    @staticmethod
    def pipeline_class() -> type[DPnPPipeline]:
        """The pipeline class an image prior is loaded as (imported here: it needs diffusers)."""
        from ..pipelines import DPnPPipeline

        return DPnPPipeline

    def __init__(self, pipe: DPnPPipeline):
        from ..pipelines import DAPSPipeline, DPSPipeline

        self.pipes = {"dpnp": pipe, "dps": DPSPipeline(**pipe.components), "daps": DAPSPipeline(**pipe.components)}
        self.pipelines = list(self.pipes.values())

    @staticmethod
    def output_name(settings: dict) -> str:
        return settings["name"]

    def memory_estimate(self, settings: dict) -> int:
        """Bytes a restore job needs at least beyond the model: a few float32 copies of the
        chains (samples x C x H x W) for the sampler's states and gradients."""
        config = self.pipes["dpnp"].unet.config
        size = config.sample_size
        height, width = (size, size) if isinstance(size, int) else size
        return 16 * settings["samples"] * config.in_channels * height * width * 4

    def __call__(self, settings: dict, generator: torch.Generator) -> Rendered:
        from ..media.image_io import posterior_pictures, read_image, save_image, verify_images
        from ..pipelines.posterior.dpnp_recipes import dpnp_recipe

        pipe = self.pipes[settings["method"]]
        config = pipe.unet.config
        size = config.sample_size
        height, width = (size, size) if isinstance(size, int) else size
        shape = (1, config.in_channels, height, width)
        operator = build_operator(settings)
        pictures = {}
        if settings["simulate"]:
            truth = read_image(settings["image"], config.in_channels, (width, height)).to(pipe.device)
            y = operator.measure(truth, generator=generator)
            pictures["truth.png"] = truth
        else:
            y = _read_measurement(settings, operator, shape).to(pipe.device)
        if settings["method"] == "dpnp":
            method = dict(
                recipe=settings["recipe"],
                etas=settings["etas"],
                num_dds_steps=settings["dds_steps"],
                init_steps=settings["warm_steps"],
                init_step_size=settings["step_size"],
            )
        elif settings["method"] == "daps":
            method = dict(recipe=settings["recipe"], num_levels=settings["levels"], ode_steps=settings["ode_steps"])
        else:
            step_size = settings["step_size"] or dpnp_recipe("authors", operator).init_step_size
            method = dict(step_size=step_size, num_inference_steps=settings["steps"])
        out = pipe(y, operator, num_samples=settings["samples"], generator=generator, output_type="pt", **method)

        shown, scales = posterior_pictures(y, out, config.in_channels)
        pictures.update(shown)
        results = {
            "operator_config": operator.config(),
            "image_size": [height, width],
            "model_evals": out.model_evals,
            "acceptance_rate": out.acceptance_rate,
            **scales,
        }
        if settings["simulate"]:
            from ..evaluation.image_quality import psnr

            results["psnr_mean_db"] = float(psnr(out.mean.float(), pictures["truth.png"].float()))
        measurement = y.detach().float().cpu().numpy()

        def write(folder: Path) -> None:
            def fill(tmp: Path) -> None:
                np.save(tmp / "measurement.npy", measurement)
                for name, tensor in pictures.items():
                    save_image(tensor, tmp / name)

            def verify(tmp: Path) -> None:
                if np.load(tmp / "measurement.npy", allow_pickle=False).shape != measurement.shape:
                    raise OSError("the written measurement.npy does not read back")
                verify_images({tmp / name: tuple(tensor.shape[-2:]) for name, tensor in pictures.items()})

            atomic_folder(folder, fill, verify)

        return Rendered(write, results, pictures)


def _read_measurement(settings: dict, operator, image_shape) -> torch.Tensor:
    """The measurement file of a non-simulated job: .npy as is, a picture resized to the
    operator's measurement size (1bit: thresholded to +-1)."""
    import torch

    from ..media.image_io import read_image

    path = Path(settings["image"])
    if path.suffix.lower() == ".npy":
        return torch.from_numpy(np.load(path, allow_pickle=False)).float()
    _, channels, height, width = operator.measurement_shape(image_shape)
    y = read_image(path, channels, (width, height))
    return torch.where(y >= 0, 1.0, -1.0) if settings["operator"] == "1bit" else y
