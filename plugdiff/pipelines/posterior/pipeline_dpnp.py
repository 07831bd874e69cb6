"""Posterior sampling for inverse problems as diffusers pipelines: DPnP and its DPS baseline.

Both pipelines bind an unconditional epsilon-prediction ``UNet2DModel`` (a google/ddpm-* style
checkpoint) and its scheduler's noise schedule to the plain samplers
:func:`~plugdiff.pipelines.posterior.dpnp.dpnp_sample` and :func:`~plugdiff.pipelines.posterior.dps.dps_sample`;
all algorithm work happens there. The pipelines only turn a measurement and an operator into
tensors, check that the UNet can take the image size, run the sampler and format the outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch

# diffusers' from_pretrained picks a component's loader by looking up its base classes in the
# module that defines it; keep DiffusionPipeline importable here.
from diffusers import DiffusionPipeline, UNet2DModel
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput

from ...argument_checks import check_int, is_int
from .annealing import AnnealingSchedule, resolve_etas
from .dpnp import dpnp_sample
from .dpnp_recipes import dpnp_recipe
from .dps import dps_sample
from .operators import ForwardOperator, make_operator
from .posterior_sampling import PosteriorSamples, timestep_grid
from .proximal_sampling import LangevinSettings
from .sampling_inputs import check_problem

#: What ``output_type`` may be.
OUTPUT_TYPES = ("pil", "np", "pt")


@dataclass
class PosteriorPipelineOutput(BaseOutput):
    r"""Output of :class:`DPnPPipeline` and :class:`DPSPipeline`.

    Attributes:
        images: the ``num_samples`` posterior samples, clipped to the image range: a list of PIL
            images (``output_type="pil"``), a float array (N, H, W, C) in [0, 1] (``"np"``) or a
            tensor (N, C, H, W) in [-1, 1] (``"pt"``).
        mean: the per-pixel posterior mean over the samples, one image in the same form.
        std: the per-pixel posterior standard deviation over the samples (Bessel-corrected;
            all zeros for one sample), in [-1, 1] image units whatever ``output_type``: a float
            array (1, H, W, C) for "pil" and "np", a tensor (1, C, H, W) for "pt". Multiply by
            127.5 for uint8 pixel units.
        model_evals: network evaluations per sample.
        acceptance_rate: mean Metropolis acceptance of the MALA proximal sampler (DPnP with
            ``pcs="mala"``), else None.
    """

    images: list[PIL.Image.Image] | np.ndarray | torch.Tensor
    mean: list[PIL.Image.Image] | np.ndarray | torch.Tensor
    std: np.ndarray | torch.Tensor
    model_evals: int
    acceptance_rate: float | None = None


class _PosteriorPipeline(DiffusionPipeline):
    """What DPnP and DPS share: the UNet's epsilon binding, input preparation and outputs."""

    model_cpu_offload_seq = "unet"

    def __init__(self, unet: UNet2DModel, scheduler: SchedulerMixin):
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler)
        if scheduler is not None:
            self._check_scheduler()

    # ------------------------------------------------------------------ the prior
    def eps_model(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The UNet's noise prediction in the samplers' form ``eps_model(x_t, t)``: x_t is cast
        to the UNet's dtype and the result back to x_t's; a learned-variance UNet
        (``out_channels == 2 * in_channels``) gives its first ``in_channels`` channels."""
        config = self.unet.config
        eps = self.unet(x_t.to(self.unet.dtype), t).sample
        if config.out_channels == 2 * config.in_channels:
            eps = eps[:, : config.in_channels]
        return eps.to(x_t.dtype)

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        """The prior's alpha-bar_t, t = 0..T-1, from the scheduler."""
        self._check_scheduler()
        return self.scheduler.alphas_cumprod

    def _check_scheduler(self) -> None:
        prediction = self.scheduler.config.get("prediction_type", "epsilon")
        if prediction != "epsilon":
            raise ValueError(
                f"`scheduler` has prediction_type={prediction!r}, but {type(self).__name__} needs an "
                "epsilon-prediction UNet (prediction_type='epsilon')."
            )
        if getattr(self.scheduler, "alphas_cumprod", None) is None:
            raise ValueError(
                f"`scheduler` ({type(self.scheduler).__name__}) has no `alphas_cumprod`; use a VP "
                "scheduler such as DDPMScheduler or DDIMScheduler."
            )

    # ------------------------------------------------------------------ inputs
    def _prepare(self, measurement, operator, operator_kwargs, num_samples, generator, output_type, image_shape):
        """Checked (operator, y (N, ...), image_shape (N, C, H, W)) in float32 on the execution device."""
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"unknown `output_type`={output_type!r}; choose one of {list(OUTPUT_TYPES)}.")
        check_int(num_samples, "num_samples", minimum=1)
        self._check_scheduler()
        device = self._execution_device
        _check_generator(generator, device)
        operator = _as_operator(operator, operator_kwargs)
        y = _as_measurement(measurement, self.unet.config.in_channels).to(device=device, dtype=torch.float32)
        shape = self._image_size(image_shape, operator, y)
        y = y.repeat(num_samples, *([1] * (y.ndim - 1)))
        return operator, y, check_problem(operator, y, (num_samples, *shape))

    def _image_size(self, image_shape, operator: ForwardOperator, y: torch.Tensor) -> tuple[int, int, int]:
        """(C, H, W): ``image_shape``, else the measurement's when the operator keeps the image
        shape, else the UNet's ``sample_size``; checked against what the UNet can take."""
        config = self.unet.config
        if image_shape is not None:
            shape, origin = _parse_image_shape(image_shape, config.in_channels), "given"
        elif _keeps_shape(operator, y):
            shape, origin = tuple(int(n) for n in y.shape[1:]), "taken from the measurement"
        else:
            size = config.sample_size
            if size is None:
                raise ValueError("the UNet's config has no `sample_size`: pass `image_shape` (H, W).")
            shape, origin = _parse_image_shape(size, config.in_channels), "the UNet's sample_size"
        channels, height, width = shape
        if channels != config.in_channels:
            raise ValueError(
                f"`image_shape` {shape} ({origin}) has {channels} channels but the UNet takes "
                f"in_channels={config.in_channels}."
            )
        factor = 2 ** (len(config.block_out_channels) - 1)
        if height % factor or width % factor:
            raise ValueError(
                f"`image_shape` {shape} ({origin}) cannot be taken by the UNet: height and width must be "
                f"multiples of {factor} (2 ** (len(block_out_channels) - 1), its downsampling factor)."
            )
        return shape

    # ------------------------------------------------------------------ running and outputs
    def _run(
        self,
        sample: Callable,
        total: int,
        operator: ForwardOperator,
        y: torch.Tensor,
        shape,
        *,
        generator: torch.Generator | None,
        callback: Callable | None,
        output_type: str,
        return_dict: bool,
        **arguments,
    ):
        """What every pipeline's call ends with: the sampler over tensors,
        ``sample(eps_model, alphas_cumprod, operator, y, **arguments, image_shape=shape, ...)``, run
        with a callback that ticks a progress bar of ``total`` steps and calls the user's
        ``callback``; then its samples as the pipeline's output."""
        with self.progress_bar(total=total) as bar:

            def step(*args):
                bar.update()
                if callback is not None:
                    callback(*args)

            result = sample(
                self.eps_model,
                self.alphas_cumprod,
                operator,
                y,
                **arguments,
                image_shape=shape,
                generator=generator,
                callback=step,
            )
        return self._output(result, output_type, return_dict)

    def _output(self, result: PosteriorSamples, output_type: str, return_dict: bool):
        samples = result.samples.clamp(-1, 1)
        mean = samples.mean(0, keepdim=True)
        std = samples.std(0, keepdim=True, correction=1 if len(samples) > 1 else 0)
        images, mean = _format(samples, output_type), _format(mean, output_type)
        if output_type != "pt":
            std = std.permute(0, 2, 3, 1).float().cpu().numpy()
        self.maybe_free_model_hooks()
        if not return_dict:
            return images, mean, std
        return PosteriorPipelineOutput(
            images=images,
            mean=mean,
            std=std,
            model_evals=int(result.model_evals),
            acceptance_rate=result.acceptance_rate,
        )


class DPnPPipeline(_PosteriorPipeline):
    r"""Sample the posterior :math:`p(x \mid y) \propto p(x)\,p(y \mid x)` of an inverse problem
    by DPnP, diffusion plug-and-play (Xu & Chi, "Provably robust score-based diffusion posterior
    sampling for plug-and-play image reconstruction", NeurIPS 2024), with the UNet as the prior
    p(x) and a forward operator's likelihood p(y | x).

    DPnP alternates a proximal consistency step that sees only the likelihood with a denoising
    diffusion step that sees only the prior, at a noise level eta annealed towards 0
    (:func:`~plugdiff.pipelines.posterior.dpnp.dpnp_sample`). By default it runs the authors' recipe, a DPS
    warm start refined by DPnP with a sharpened likelihood (``recipe="authors"``: best point
    estimates); ``recipe="posterior"`` is the cold-start, exact-posterior mode. Any unconditional epsilon-prediction
    ``UNet2DModel`` with a VP scheduler works (``google/ddpm-*`` checkpoints); the scheduler
    only supplies ``alphas_cumprod``. The UNet is used as it is: ``from_pretrained`` puts it in
    eval mode; call ``.eval()`` on one you built or trained yourself (dropout).

    Example::

        import torch
        from plugdiff.pipelines import DPnPPipeline

        pipe = DPnPPipeline.from_pretrained("path/to/ddpm-celebahq-256")  # a local folder
        y = ...  # (3, 128, 128) tensor in [-1, 1], a noisy x2 downsampled image
        out = pipe(y, "super_resolution", operator_kwargs={"factor": 2}, num_samples=4,
                   generator=torch.Generator().manual_seed(0))  # the authors' recipe
        out.images[0].save("sample.png"); out.mean[0].save("mean.png")
    """

    @torch.no_grad()
    def __call__(
        self,
        measurement: torch.Tensor | PIL.Image.Image | np.ndarray,
        operator: ForwardOperator | str,
        *,
        operator_kwargs: dict | None = None,
        num_samples: int = 1,
        generator: torch.Generator | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        image_shape=None,
        callback: Callable | None = None,
        recipe: str = "authors",
        etas: str | AnnealingSchedule | list[float] | None = None,
        pcs: str | LangevinSettings | None = None,
        dds: str | None = None,
        num_dds_steps: int | None = None,
        init: str | torch.Tensor | None = None,
        init_steps: int | None = None,
        init_step_size: float | None = None,
        likelihood_weight: float | None = None,
        clip_denoised: bool | float | None = None,
    ) -> PosteriorPipelineOutput | tuple:
        r"""Draw ``num_samples`` independent posterior samples for one measurement.

        Args:
            measurement: y, one measurement: a tensor (C, H', W') or (1, C, H', W') in the
                operator's measurement space ([-1, 1] for image-shaped ones), or, for
                image-shaped measurements, a PIL image or uint8 array (H, W[, C]) (mapped to
                [-1, 1]).
            operator: a :class:`~plugdiff.pipelines.posterior.operators.ForwardOperator` or a name in
                :data:`~plugdiff.pipelines.posterior.operators.OPERATORS`, built with ``operator_kwargs``.
            num_samples: independent chains, all for this measurement.
            generator: one ``torch.Generator`` on the pipeline's device.
            output_type: "pil", "np" or "pt" (see :class:`PosteriorPipelineOutput`).
            return_dict: False returns the tuple (images, mean, std).
            image_shape: (H, W), (C, H, W) or an int; default: the measurement's shape when the
                operator keeps it (inpainting, blur, 1-bit), else the UNet's ``sample_size``.
            callback: ``callback(k, eta, x)`` after each annealing iteration (x: the (N, C, H, W)
                chains in [-1, 1]).
            recipe: the settings every argument below left at None takes
                (:func:`~plugdiff.pipelines.posterior.dpnp_recipes.dpnp_recipe`): "authors" (default; a DPS
                warm start refined by the official schedule with DDIM denoising and the authors'
                sharpened likelihood, 250 UNet evaluations per sample) or "posterior" (from noise,
                the true likelihood, eta from 1 down to 0.02: the exact-posterior mode).
            etas: annealing schedule: "official" (K = 16), "accurate" (1.0 -> 0.02, K = 100), an
                :class:`~plugdiff.pipelines.posterior.annealing.AnnealingSchedule` or a non-increasing list.
            pcs: proximal sampler: "auto", "exact", "mala", "langevin" or
                :class:`~plugdiff.pipelines.posterior.proximal_sampling.LangevinSettings`.
            dds: denoising sampler, "ddpm" or "ddim".
            num_dds_steps: at most this many UNet evaluations per denoising step.
            init: starting image: "noise", "dps" (a DPS run of ``init_steps`` steps with step size
                ``init_step_size``, not shown in the progress bar) or a tensor (C, H, W) /
                (1 or N, C, H, W).
            likelihood_weight: w, sample :math:`p(x)\,p(y \mid x)^w`: 1 is the Bayesian posterior,
                w > 1 a sharpened one.
            clip_denoised: clip the denoiser's estimates to [-1, 1]: True, False, or a number c
                (clip only while eta >= c).
        """
        operator, y, shape = self._prepare(
            measurement, operator, operator_kwargs, num_samples, generator, output_type, image_shape
        )
        if isinstance(init, torch.Tensor):
            init = _batched(init, num_samples).to(device=y.device, dtype=y.dtype)
        settings = dpnp_recipe(
            recipe,
            operator,
            **_given_arguments(
                etas=etas,
                pcs=pcs,
                dds=dds,
                num_dds_steps=num_dds_steps,
                init=init,
                init_steps=init_steps,
                init_step_size=init_step_size,
                likelihood_weight=likelihood_weight,
                clip_denoised=clip_denoised,
            ),
        )
        return self._run(
            dpnp_sample,
            len(resolve_etas(settings.etas)),
            operator,
            y,
            shape,
            generator=generator,
            callback=callback,
            output_type=output_type,
            return_dict=return_dict,
            **settings.sampler_kwargs(),
        )


class DPSPipeline(_PosteriorPipeline):
    r"""Sample the posterior :math:`p(x \mid y) \propto p(x)\,p(y \mid x)` approximately by
    diffusion posterior sampling (DPS; Chung et al., "Diffusion posterior sampling for general
    noisy inverse problems", ICLR 2023), with the UNet as the prior: ancestral DDPM sampling
    with a likelihood-gradient step through Tweedie's estimate at every step
    (:func:`~plugdiff.pipelines.posterior.dps.dps_sample`). The baseline DPnP is compared with; same
    inputs and outputs as :class:`DPnPPipeline`.

    Example::

        import torch
        from plugdiff.pipelines import DPSPipeline

        pipe = DPSPipeline.from_pretrained("path/to/ddpm-celebahq-256")  # a local folder
        y = ...  # (3, 256, 256) tensor in [-1, 1], the image with a box removed, plus noise
        out = pipe(y, "inpainting", operator_kwargs={"mask": "box"}, num_samples=2,
                   num_inference_steps=250, step_size=1.0, generator=torch.Generator().manual_seed(0))
        out.images[0].save("sample.png")
    """

    @torch.no_grad()
    def __call__(
        self,
        measurement: torch.Tensor | PIL.Image.Image | np.ndarray,
        operator: ForwardOperator | str,
        *,
        operator_kwargs: dict | None = None,
        num_samples: int = 1,
        generator: torch.Generator | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        image_shape=None,
        callback: Callable | None = None,
        step_size: float = 1.0,
        num_inference_steps: int | None = None,
        clip_denoised: bool = True,
    ) -> PosteriorPipelineOutput | tuple:
        r"""Draw ``num_samples`` independent approximate posterior samples for one measurement.

        Args:
            measurement, operator, operator_kwargs, num_samples, generator, output_type,
                return_dict, image_shape, clip_denoised: as in :meth:`DPnPPipeline.__call__`.
            callback: ``callback(i, t, x)`` after each step (x: the (N, C, H, W) chains).
            step_size: zeta, the likelihood step (normalised by the measurement distance).
            num_inference_steps: evenly spaced timesteps, one UNet evaluation and one
                backpropagation each (None: every training step).
        """
        check_int(
            num_inference_steps, "num_inference_steps", minimum=1, maximum=len(self.alphas_cumprod), optional=True
        )
        operator, y, shape = self._prepare(
            measurement, operator, operator_kwargs, num_samples, generator, output_type, image_shape
        )
        total = len(timestep_grid(len(self.alphas_cumprod) - 1, num_inference_steps))
        return self._run(
            dps_sample,
            total,
            operator,
            y,
            shape,
            generator=generator,
            callback=callback,
            output_type=output_type,
            return_dict=return_dict,
            step_size=step_size,
            num_steps=num_inference_steps,
            clip_denoised=clip_denoised,
        )


# ---------------------------------------------------------------------- helpers
def _given_arguments(**arguments) -> dict:
    """The keyword arguments not left at None (those a recipe does not fill in)."""
    return {name: value for name, value in arguments.items() if value is not None}


def _as_operator(operator, operator_kwargs) -> ForwardOperator:
    if isinstance(operator, str):
        return make_operator(operator, **(operator_kwargs or {}))
    if not isinstance(operator, ForwardOperator):
        raise ValueError(f"`operator` must be a ForwardOperator or an operator name, got {type(operator).__name__}.")
    if operator_kwargs:
        raise ValueError(
            "`operator_kwargs` only applies to an operator given by name; this operator is already built."
        )
    return operator


def _as_measurement(measurement, channels: int) -> torch.Tensor:
    """One measurement as a (1, ...) tensor; images (PIL, uint8 arrays) mapped to [-1, 1]."""
    if isinstance(measurement, PIL.Image.Image):
        measurement = np.asarray(measurement.convert("L" if channels == 1 else "RGB"))
    if isinstance(measurement, np.ndarray):
        if measurement.dtype != np.uint8 or measurement.ndim not in (2, 3):
            raise ValueError(
                f"`measurement` as a numpy array must be a uint8 image (H, W) or (H, W, C), got "
                f"{measurement.dtype} {measurement.shape}; pass other measurements as a torch tensor."
            )
        pixels = measurement[..., None] if measurement.ndim == 2 else measurement
        return torch.from_numpy(np.array(pixels, dtype=np.uint8, copy=True)).permute(2, 0, 1)[None].float() / 127.5 - 1
    if not isinstance(measurement, torch.Tensor):
        raise ValueError(
            f"`measurement` must be a tensor, PIL image or uint8 array, got {type(measurement).__name__}."
        )
    if measurement.ndim == 3:
        return measurement[None]
    if measurement.ndim == 4 and measurement.shape[0] == 1:
        return measurement
    raise ValueError(
        f"`measurement` must be one measurement, (C, H, W) or (1, C, H, W), got shape {tuple(measurement.shape)} "
        "(use `num_samples` for several samples of one posterior)."
    )


def _keeps_shape(operator: ForwardOperator, y: torch.Tensor) -> bool:
    """Whether y could be the measurement of an image of y's own shape."""
    if y.ndim != 4:
        return False
    try:
        return tuple(operator.measurement_shape(tuple(y.shape))) == tuple(y.shape)
    except ValueError:
        return False


def _parse_image_shape(image_shape, channels: int) -> tuple[int, int, int]:
    """(C, H, W) from an int, (H, W) or (C, H, W)."""
    values = (image_shape, image_shape) if is_int(image_shape) else image_shape
    try:
        values = tuple(values)
    except TypeError:
        values = ()
    ok = len(values) in (2, 3) and all(is_int(v) and v >= 1 for v in values)
    if not ok:
        raise ValueError(
            f"`image_shape` must be (H, W), (C, H, W) or an int, with positive sizes, got {image_shape!r}."
        )
    values = tuple(int(v) for v in values)
    return values if len(values) == 3 else (channels, *values)


def _check_generator(generator, device) -> None:
    if generator is None:
        return
    if not isinstance(generator, torch.Generator):
        raise ValueError(
            f"`generator` must be one torch.Generator (all chains share it), got {type(generator).__name__}."
        )
    if generator.device.type != torch.device(device).type:
        raise ValueError(
            f"`generator` is on {generator.device} but the pipeline samples on {device}: "
            f"pass torch.Generator({str(device)!r}).manual_seed(seed)."
        )


def _batched(x: torch.Tensor, num_samples: int) -> torch.Tensor:
    """A (C, H, W) or (1, C, H, W) tensor repeated to num_samples; other shapes as they are."""
    if x.ndim == 3:
        x = x[None]
    if x.ndim == 4 and x.shape[0] == 1 and num_samples > 1:
        x = x.repeat(num_samples, 1, 1, 1)
    return x


def _format(x: torch.Tensor, output_type: str):
    """(N, C, H, W) in [-1, 1] as a tensor ("pt"), a (N, H, W, C) array in [0, 1] ("np") or PIL images."""
    if output_type == "pt":
        return x
    array = ((x + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).float().cpu().numpy()
    return array if output_type == "np" else DiffusionPipeline.numpy_to_pil(array)
