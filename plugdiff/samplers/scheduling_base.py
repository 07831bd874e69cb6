"""Shared machinery of plugdiff's discrete variance-preserving (VP) schedulers.

Both accelerated samplers walk a grid of training timesteps tau_0 > tau_1 > ... > tau_{N-1}
with levels a[k] = alphas_cumprod[tau_k] and a final level a[N] (1, or alphas_cumprod[0] when
``set_alpha_to_one=False``), exactly like diffusers' ``DDIMScheduler``. This base class owns
everything that is not the update rule: the beta schedule, argument validation, timestep
spacing and custom timesteps, step-index bookkeeping, prediction-type conversion and x0
clipping / dynamic thresholding, and ``step`` itself. Subclasses precompute their per-step
coefficients in float64 (``_precompute``) and implement the update (``_update``); every concrete
subclass is listed in the others' ``compatibles`` automatically.

The constructor takes the union of ``DDIMScheduler``'s and ``DDPMScheduler``'s arguments, so either
config (and direct construction with either's arguments) builds any of these schedulers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.schedulers import DDPMScheduler, DPMSolverMultistepScheduler
from diffusers.schedulers.scheduling_ddim import (
    betas_for_alpha_bar,
    rescale_zero_terminal_snr,
)
from diffusers.schedulers.scheduling_utils import (
    KarrasDiffusionSchedulers,
    SchedulerMixin,
)
from diffusers.utils import BaseOutput, logging

from ..argument_checks import check_choice, check_int

logger = logging.get_logger(__name__)

BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid")
PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
TIMESTEP_SPACINGS = ("linspace", "leading", "trailing")
VARIANCE_TYPES = ("fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log", "learned", "learned_range")
LEARNED_VARIANCES = ("learned", "learned_range")


@dataclass
class AcceleratedSchedulerOutput(BaseOutput):
    """Output of ``step``, like diffusers' ``DDIMSchedulerOutput``.

    Args:
        prev_sample: the sample to feed to the model at the next timestep (the final sample
            after the last step).
        pred_original_sample: the model's x0 estimate at this step (after clipping /
            thresholding), for previews and guidance.
    """

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor | None = None


def spaced_timesteps(
    num_train_timesteps: int, num_inference_steps: int, spacing: str, steps_offset: int = 0
) -> np.ndarray:
    """Descending integer timesteps for ``num_inference_steps`` steps, with diffusers' spacing
    rules ("linspace", "leading", "trailing"; Table 2 of Lin et al. 2023, arXiv 2305.08891)."""
    if spacing == "linspace":
        timesteps = np.linspace(0, num_train_timesteps - 1, num_inference_steps).round()[::-1]
    elif spacing == "leading":
        step_ratio = num_train_timesteps // num_inference_steps
        timesteps = (np.arange(0, num_inference_steps) * step_ratio).round()[::-1] + steps_offset
    elif spacing == "trailing":
        step_ratio = num_train_timesteps / num_inference_steps
        timesteps = np.round(np.arange(num_train_timesteps, 0, -step_ratio)) - 1
    else:
        check_choice(spacing, "timestep_spacing", TIMESTEP_SPACINGS)
    timesteps = timesteps.astype(np.int64)
    if timesteps.max() >= num_train_timesteps:
        raise ValueError(
            f"`steps_offset`={steps_offset} pushes the first timestep to {timesteps.max()}, past the last "
            f"training timestep {num_train_timesteps - 1}."
        )
    return timesteps


class AcceleratedSchedulerBase(SchedulerMixin, ConfigMixin):
    """Base of the accelerated VP schedulers: config, grid, bookkeeping (no update rule).

    The config arguments and their defaults are those of diffusers' ``DDIMScheduler``, so
    ``from_config`` from any DDIM / DDPM / PNDM / Euler / DPM-Solver config keeps the model's
    noise schedule and parameterisation.
    """

    _compatibles = [e.name for e in KarrasDiffusionSchedulers]
    order = 1
    init_noise_sigma = 1.0
    #: ``eta`` values ``step`` takes: diffusers' default 0.0 and the value the algorithm implements.
    accepted_etas: tuple[float, ...] = (0.0,)

    # Identical semantics to diffusers' own schedulers, so reuse them rather than copy them.
    add_noise = DDPMScheduler.add_noise
    get_velocity = DDPMScheduler.get_velocity
    _threshold_sample = DDPMScheduler._threshold_sample
    index_for_timestep = DPMSolverMultistepScheduler.index_for_timestep

    @register_to_config
    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_start: float = 0.0001,
        beta_end: float = 0.02,
        beta_schedule: str = "linear",
        trained_betas: np.ndarray | list[float] | None = None,
        clip_sample: bool = True,
        set_alpha_to_one: bool = True,
        steps_offset: int = 0,
        prediction_type: str = "epsilon",
        thresholding: bool = False,
        dynamic_thresholding_ratio: float = 0.995,
        clip_sample_range: float = 1.0,
        sample_max_value: float = 1.0,
        timestep_spacing: str = "leading",
        rescale_betas_zero_snr: bool = False,
        variance_type: str = "fixed_small",
    ):
        check_int(num_train_timesteps, "num_train_timesteps", minimum=1)
        check_int(steps_offset, "steps_offset", minimum=0)
        check_choice(prediction_type, "prediction_type", PREDICTION_TYPES)
        check_choice(timestep_spacing, "timestep_spacing", TIMESTEP_SPACINGS)
        check_choice(variance_type, "variance_type", VARIANCE_TYPES)
        if trained_betas is not None:
            self.betas = torch.tensor(np.asarray(trained_betas, dtype=np.float64), dtype=torch.float32)
            if self.betas.ndim != 1:
                raise ValueError(f"`trained_betas` must be a 1-D list of betas, got shape {tuple(self.betas.shape)}.")
        elif beta_schedule == "linear":
            self.betas = torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float32)
        elif beta_schedule == "scaled_linear":
            self.betas = torch.linspace(beta_start**0.5, beta_end**0.5, num_train_timesteps, dtype=torch.float32) ** 2
        elif beta_schedule == "squaredcos_cap_v2":
            self.betas = betas_for_alpha_bar(num_train_timesteps)
        elif beta_schedule == "sigmoid":  # GeoDiff's schedule, as DDPMScheduler builds it
            sigmoid = torch.sigmoid(torch.linspace(-6, 6, num_train_timesteps))
            self.betas = sigmoid * (beta_end - beta_start) + beta_start
        else:
            check_choice(beta_schedule, "beta_schedule", BETA_SCHEDULES)
        if not bool(((self.betas > 0) & (self.betas < 1)).all()):
            # diffusers builds such schedules too (its tests do); levels past the first beta >= 1
            # are not noise levels, so a grid that reaches them gives NaN samples
            logger.warning("some betas lie outside (0, 1): check `beta_start`, `beta_end` or `trained_betas`.")
        if rescale_betas_zero_snr:  # last level a = 0: use prediction_type="v_prediction"
            self.betas = rescale_zero_terminal_snr(self.betas)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)
        # The exact values diffusers uses (and models were trained with), upcast to float64 for
        # the coefficient tables, whose formulas difference nearby levels.
        self._alphas_cumprod64 = self.alphas_cumprod.double().numpy()
        self.final_alpha_cumprod = torch.tensor(1.0) if set_alpha_to_one else self.alphas_cumprod[0]

        # Until set_timesteps, step walks the whole training grid (as DDPMScheduler does); its
        # coefficient tables are built on the first step.
        self.num_inference_steps = None
        self.timesteps = torch.from_numpy(np.arange(0, num_train_timesteps)[::-1].copy().astype(np.int64))
        self.levels = None
        self._step_index = None
        self._begin_index = None

    # ------------------------------------------------------------------ bookkeeping
    @property
    def step_index(self) -> int | None:
        """Index of the current timestep in ``self.timesteps`` (None before the first step)."""
        return self._step_index

    @property
    def begin_index(self) -> int | None:
        """First timestep index, set by pipelines that start mid-schedule (img2img)."""
        return self._begin_index

    def set_begin_index(self, begin_index: int = 0) -> None:
        """Start stepping at ``self.timesteps[begin_index]`` (called by img2img-style pipelines)."""
        self._begin_index = check_int(begin_index, "begin_index", minimum=0)

    def scale_model_input(self, sample: torch.Tensor, timestep: int | None = None) -> torch.Tensor:
        """VP schedulers feed the sample to the model unscaled."""
        return sample

    def set_timesteps(
        self,
        num_inference_steps: int | None = None,
        device: str | torch.device | None = None,
        timesteps: Sequence[int] | None = None,
    ) -> None:
        """Choose the sampling grid and reset the sampler state.

        Args:
            num_inference_steps: number of steps (= model calls); spaced by ``timestep_spacing``.
            device: where ``self.timesteps`` lives.
            timesteps: custom strictly descending integer timesteps in [0, num_train_timesteps),
                instead of ``num_inference_steps``.
        """
        T = self.config.num_train_timesteps
        if (num_inference_steps is None) == (timesteps is None):
            raise ValueError("pass exactly one of `num_inference_steps` or `timesteps`.")
        if timesteps is not None:
            grid = self._validate_custom_timesteps(timesteps, T)
        else:
            num_inference_steps = check_int(num_inference_steps, "num_inference_steps", minimum=1, whole=True)
            if num_inference_steps > T:
                raise ValueError(
                    f"`num_inference_steps`={num_inference_steps} exceeds num_train_timesteps={T}: the model "
                    f"only knows {T} noise levels."
                )
            grid = spaced_timesteps(T, num_inference_steps, self.config.timestep_spacing, self.config.steps_offset)
        self.num_inference_steps = len(grid)
        self._use_grid(grid, device)
        self._step_index = None
        self._begin_index = None

    def _use_grid(self, grid: np.ndarray, device=None) -> None:
        """Make ``grid`` (descending training timesteps) the sampling grid: levels a[0..N] and
        the subclass's coefficient tables; forgets any multistep memory."""
        if grid.max() >= len(self._alphas_cumprod64):
            raise ValueError(
                f"timestep {grid.max()} has no beta: `trained_betas` has {len(self._alphas_cumprod64)} values but "
                f"num_train_timesteps={self.config.num_train_timesteps}."
            )
        self.timesteps = torch.from_numpy(grid).to(device)
        final = 1.0 if self.config.set_alpha_to_one else float(self._alphas_cumprod64[0])
        self.levels = np.append(self._alphas_cumprod64[grid], final)
        with np.errstate(invalid="ignore", divide="ignore"):  # betas outside (0, 1) give NaN, as in diffusers
            self._precompute(self.levels)
        self._reset_state()

    def previous_timestep(self, timestep: int | torch.Tensor) -> torch.Tensor:
        """The grid timestep after ``timestep`` (-1 after the last one), as ``DDPMScheduler.previous_timestep``."""
        index = int(self.index_for_timestep(torch.as_tensor(timestep, device=self.timesteps.device)))
        return self.timesteps[index + 1] if index + 1 < len(self.timesteps) else torch.tensor(-1)

    @staticmethod
    def _validate_custom_timesteps(timesteps, T: int) -> np.ndarray:
        values = timesteps.tolist() if isinstance(timesteps, (torch.Tensor, np.ndarray)) else list(timesteps)
        if len(values) == 0:
            raise ValueError("`timesteps` must not be empty.")
        for i, t in enumerate(values):
            check_int(t, f"timesteps[{i}]", minimum=0, maximum=T - 1)
        if any(b >= a for a, b in zip(values, values[1:])):
            raise ValueError(f"`timesteps` must be strictly descending, got {values}.")
        return np.asarray(values, dtype=np.int64)

    def _init_step_index(self, timestep) -> None:
        if self._begin_index is not None:
            self._step_index = self._begin_index
        else:
            if isinstance(timestep, torch.Tensor):
                timestep = timestep.to(self.timesteps.device)
            self._step_index = int(self.index_for_timestep(timestep))

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int | torch.Tensor,
        sample: torch.Tensor,
        generator: torch.Generator | None = None,
        return_dict: bool = True,
        use_clipped_model_output: bool = False,
        eta: float = 0.0,
    ) -> AcceleratedSchedulerOutput | tuple:
        """Advance ``sample`` from ``timestep`` to the next grid level with this scheduler's update.

        Before ``set_timesteps`` the grid is every training timestep, as in ``DDPMScheduler``.
        A step past the end of the grid repeats the last step (as ``DDIMScheduler`` does when
        given the last timestep again), without multistep memory.

        Args:
            model_output: the model's prediction at ``sample`` (type per ``prediction_type``); with
                a learned ``variance_type`` its extra variance channels are dropped (this
                scheduler's noise is set by its algorithm).
            timestep: the current timestep (an element of ``self.timesteps``).
            sample: the sample the model saw.
            generator: torch generator for schedulers that inject noise (ignored otherwise).
            return_dict: return an ``AcceleratedSchedulerOutput`` rather than a tuple.
            use_clipped_model_output: as in ``DDIMScheduler.step``: re-derive eps from the
                clipped / thresholded x0, eps = (x_t - sqrt(a) x0) / sqrt(1 - a) with a the
                current alpha-bar (GLIDE's convention). Without it a clipped x0 is paired
                with the model's unclipped eps, which on a pixel-space prior can collapse the
                colours (README, "Samplers on the learned prior"). Only the DDIM-type update
                uses eps; the DDPM-type update is built from x0 alone.
            eta: DDIM's noise weight. The noise of these samplers is fixed by their algorithm:
                only the values in the class's ``accepted_etas`` are taken (0.0, the value
                diffusers pipelines pass by default, and the one this algorithm implements);
                any other raises.
        """
        self._check_eta(eta)
        if self.levels is None:
            self._use_grid(self.timesteps.cpu().numpy())
        if self._step_index is None:
            self._init_step_index(timestep)
        k = self._step_index
        if k >= len(self.timesteps):
            k = len(self.timesteps) - 1
            self._reset_state()
        model_output = self._drop_learned_variance(model_output, sample)
        x0, eps = self._x0_and_eps(model_output, sample, float(self.levels[k]), use_clipped_model_output)
        prev_sample = self._update(k, sample, x0, eps, generator)
        self._step_index += 1
        if not return_dict:
            return (prev_sample, x0)
        return AcceleratedSchedulerOutput(prev_sample=prev_sample, pred_original_sample=x0)

    def _check_eta(self, eta: float) -> None:
        if eta not in self.accepted_etas:
            raise ValueError(
                f"`eta`={eta!r} is not supported by {type(self).__name__}, whose noise is fixed by its algorithm "
                f"(accepted: {', '.join(map(str, self.accepted_etas))}). For deterministic sampling use "
                "AcceleratedDDIMScheduler, for stochastic sampling AcceleratedDDPMScheduler, or DDIMScheduler for "
                "DDIM's eta interpolation between the two."
            )

    def _drop_learned_variance(self, model_output: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
        """The prediction channels of a model that also outputs its variance (``DDPMScheduler``'s rule)."""
        if self.config.variance_type in LEARNED_VARIANCES and model_output.shape[1] == 2 * sample.shape[1]:
            return model_output[:, : sample.shape[1]]
        return model_output

    # ------------------------------------------------------------------ model output
    def _x0_and_eps(self, model_output: torch.Tensor, sample: torch.Tensor, a: float, clipped_eps: bool = False):
        """Convert the model output at level ``a`` to (x0, eps); x0 is clipped / thresholded as
        configured, eps is the model's own (diffusers' DDIM convention) or, with
        ``clipped_eps``, the one the clipped x0 implies."""
        sa, s1a = a**0.5, (1.0 - a) ** 0.5
        kind = self.config.prediction_type
        if kind == "epsilon":
            eps = model_output
            x0 = (sample - s1a * eps) / sa
        elif kind == "v_prediction":
            x0 = sa * sample - s1a * model_output
            eps = sa * model_output + s1a * sample
        else:  # "sample"
            x0 = model_output
            eps = (sample - sa * x0) / s1a
        if self.config.thresholding:
            x0 = self._threshold_sample(x0)
        elif self.config.clip_sample:
            x0 = x0.clamp(-self.config.clip_sample_range, self.config.clip_sample_range)
        if clipped_eps:
            eps = (sample - sa * x0) / s1a
        return x0, eps

    # ------------------------------------------------------------------ subclass hooks
    def _precompute(self, levels: np.ndarray) -> None:
        """Build the per-step float64 coefficient tables for levels a[0..N]."""
        raise NotImplementedError

    def _reset_state(self) -> None:
        """Forget any multistep memory (called by ``set_timesteps``)."""

    def _update(self, k: int, sample, x0, eps, generator) -> torch.Tensor:
        """The sample for grid index k + 1 from step k's sample, (clipped) x0 and eps."""
        raise NotImplementedError

    @classmethod
    def _get_compatibles(cls) -> list:
        """diffusers' Karras family (found by name in ``diffusers``) plus every concrete plugdiff
        scheduler on this base, this class included."""
        return super()._get_compatibles() + _concrete_subclasses(AcceleratedSchedulerBase)

    def __len__(self) -> int:
        return self.config.num_train_timesteps


def _concrete_subclasses(cls) -> list:
    """Every subclass of ``cls`` at any depth that implements an update rule."""
    found = []
    for sub in cls.__subclasses__():
        if sub._update is not AcceleratedSchedulerBase._update:
            found.append(sub)
        found.extend(c for c in _concrete_subclasses(sub) if c not in found)
    return found
