r"""FIFO-Diffusion: diagonal denoising of a queue of frames at increasing noise levels.

Kim, Kang, Choi, Han, "FIFO-Diffusion: Generating Infinite Videos from Text without Training",
NeurIPS 2024 (arXiv 2405.11473); our reading of the paper and of the authors' code
(jjihwan/FIFO-Diffusion_public), written over tensors and callables:

* **Diagonal denoising.** A queue of S frames holds frame k (k = 0 the head) at the k-th noise
  level of the sampling grid, lowest first. One round of model calls moves every frame one level
  down; the head is then clean and leaves the queue as the next output frame, the others move one
  place forward and fresh noise enters at the tail. The model must take a timestep per frame
  (:mod:`.frame_timesteps`).
* **Latent partitioning.** S = n f: the queue is cut into n blocks of f frames (f the model's
  window), one model call each, so S = ``num_inference_steps`` levels are covered with windows
  the model knows.
* **Lookahead denoising.** f / 2 frames sit in front of the head (the last frames that left the
  queue, clean); windows of f frames start every f / 2 places and each keeps only its later half,
  so every frame is denoised with f / 2 less noisy frames before it. 2n calls per output frame.
* **Start.** The first queue is a clip of f frames sampled the ordinary way, re-noised along the
  diagonal: place k gets clip frame max(0, k - (S - f)) at level k (so with n > 1 the first
  S - f places re-noise the clip's first frame); the lookahead places get the clip's first frame.
  The S - f frames those first places become are the clip's first frame again and again, a still
  start; the authors' code keeps them in the video, the pipeline drops them by default
  (``FifoSettings(keep_warmup=False)``), so that its video starts with the clip's own frames.

Two details differ from the authors' code: the lookahead places are given to the model as clean
frames (timestep 0) rather than at the lowest grid level (their grid's lowest timestep is 1; with
trailing spacing a grid's lowest timestep can be 60 or more), and only the frames a window keeps
are stepped (their code steps the whole window and drops half).

Every window of a round reads the queue as it was before the round (the authors process windows
from the tail to the head, which amounts to the same). Memory holds the queue (S + f / 2 frames),
its next state and one window's activations, whatever the number of frames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from diffusers import DDIMScheduler, DDPMScheduler, EulerAncestralDiscreteScheduler, EulerDiscreteScheduler

from ...samplers import AcceleratedDDPMScheduler

#: Schedulers whose step needs nothing but the current sample, model output and timestep, so that
#: every frame can be stepped at its own level (subclasses included).
PER_FRAME_SCHEDULERS = (
    DDIMScheduler,
    DDPMScheduler,
    EulerDiscreteScheduler,
    EulerAncestralDiscreteScheduler,
    AcceleratedDDPMScheduler,
)

CLEAN_TIMESTEP = 0
"""The timestep the model is given for clean frames (the lookahead places)."""


class FrameStepper:
    """Steps each frame of a window from its own timestep to the next level of the scheduler's grid,
    by calling the scheduler's own ``step`` (and ``scale_model_input``) on each group of frames
    that share a timestep, with its step counter cleared before each call.

    Only single-step schedulers without memory can do this (:data:`PER_FRAME_SCHEDULERS`):
    multistep schedulers (DPM-Solver++ multistep, UniPC, PNDM, LMS, DEIS, plugdiff's
    AcceleratedDDIM (Adams-Bashforth-2) and AcceleratedLogSNR) combine the model outputs of earlier
    steps of one trajectory, and two-stage ones (Heun, KDPM2, DPM-Solver single-step) carry state
    between two model calls; both keep one trajectory's memory in the scheduler, while the frames
    of a FIFO window are at different points of different trajectories.
    """

    def __init__(self, scheduler):
        if not isinstance(scheduler, PER_FRAME_SCHEDULERS):
            names = ", ".join(c.__name__ for c in PER_FRAME_SCHEDULERS)
            raise ValueError(
                f"FIFO-Diffusion steps every frame at its own noise level, which {type(scheduler).__name__} "
                f"cannot: it keeps memory of earlier model calls (multistep or two-stage). Use one of {names}."
            )
        self.scheduler = scheduler

    def _fresh(self) -> None:
        if hasattr(self.scheduler, "_step_index"):
            self.scheduler._step_index = None  # index_for_timestep finds each group's place in the grid

    def _groups(self, timesteps: torch.Tensor):
        values = timesteps.tolist()
        for value in dict.fromkeys(values):
            yield timesteps[values.index(value)], [i for i, v in enumerate(values) if v == value]

    def scale_model_input(self, sample: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """``scheduler.scale_model_input`` frame by frame ((B, C, F, H, W), timesteps (F,));
        clean frames (timestep :data:`CLEAN_TIMESTEP` outside the grid) pass unscaled."""
        out = sample.clone()
        grid = set(self.scheduler.timesteps.tolist())
        for t, frames in self._groups(timesteps):
            if t.item() not in grid:
                continue
            self._fresh()
            out[:, :, frames] = self.scheduler.scale_model_input(sample[:, :, frames], t)
        self._fresh()
        return out

    def step(
        self, model_output: torch.Tensor, sample: torch.Tensor, timesteps: torch.Tensor, **kwargs
    ) -> torch.Tensor:
        """The samples one grid level further, frame by frame ((B, C, F, H, W), timesteps (F,)
        on the grid); ``kwargs`` go to ``scheduler.step`` (eta, generator)."""
        out = torch.empty_like(sample)
        for t, frames in self._groups(timesteps):
            self._fresh()
            stepped = self.scheduler.step(model_output[:, :, frames], t, sample[:, :, frames], **kwargs)
            out[:, :, frames] = stepped.prev_sample
        self._fresh()
        return out


def fifo_windows(num_levels: int, window: int, lookahead: bool) -> list[tuple[int, int, int]]:
    """(start, first kept place, end) of each model call of a round over a queue of
    ``num_levels`` levels (plus window / 2 lookahead places in front), head to tail."""
    if num_levels % window:
        raise ValueError(f"the queue's {num_levels} levels must be a multiple of the window {window}.")
    if not lookahead:
        return [(s, s, s + window) for s in range(0, num_levels, window)]
    if window % 2:
        raise ValueError(f"lookahead denoising needs an even window, got {window}.")
    half = window // 2
    return [(s, s + half, s + window) for s in range(0, num_levels, half)]


def diagonal_queue(
    clip: torch.Tensor,
    timesteps: torch.Tensor,
    add_noise: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    noise: torch.Tensor,
    lookahead: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first queue: ``clip`` re-noised along the diagonal.

    Args:
        clip: (B, C, f, H, W) clean clip of f frames.
        timesteps: the sampling grid, descending (S,), S a multiple of f.
        add_noise: ``add_noise(x0, noise, t)`` (the scheduler's, t a (1,) tensor).
        noise: (B, C, S, H, W) noise, one frame per level.
        lookahead: put f / 2 copies of the clip's first frame, clean, in front.

    Returns:
        (queue (B, C, P + S, H, W), labels (P + S,)): place P + k holds level k (``timesteps[S - 1 - k]``),
        P = f / 2 with lookahead else 0; the labels are the timesteps the model is given per place.
    """
    f, S = clip.shape[2], timesteps.shape[0]
    levels = timesteps.flip(0)
    places = [add_noise(clip[:, :, max(0, k - (S - f))], noise[:, :, k], levels[k : k + 1]) for k in range(S)]
    labels = levels
    if lookahead:
        places = [clip[:, :, 0]] * (f // 2) + places
        labels = torch.cat([torch.full((f // 2,), CLEAN_TIMESTEP, dtype=levels.dtype, device=levels.device), levels])
    return torch.stack(places, dim=2), labels


def fifo_denoise(
    model: Callable[[torch.Tensor, torch.Tensor, list[int]], torch.Tensor],
    step: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    queue: torch.Tensor,
    labels: torch.Tensor,
    num_frames: int,
    window: int,
    lookahead: bool,
    noise: Callable[[], torch.Tensor],
    skip: int = 0,
) -> Iterator[torch.Tensor]:
    """Diagonal denoising; yields the ``num_frames`` output frames (B, C, H, W) one at a time,
    after ``skip`` frames the queue emits first and are dropped.

    Args:
        model: ``model(x, timesteps, frames) -> output`` on a window: x (B, C, f, H, W), timesteps
            (f,) per frame, ``frames`` the video frame each place will become (clamped to
            [0, num_frames)), for per-frame conditions.
        step: ``step(output, x, timesteps) -> x`` one level down, per frame (:class:`FrameStepper`).
        queue, labels: from :func:`diagonal_queue`.
        num_frames: frames to produce.
        window: f.
        lookahead: lookahead denoising (``queue`` then has f / 2 places in front).
        noise: ``noise() -> (B, C, 1, H, W)``, the fresh frame entering at the tail.
        skip: frames to drop first (:func:`warmup_frames` to drop those made from the start
            clip's first frame before the clip's own frames).
    """
    front = window // 2 if lookahead else 0
    calls = fifo_windows(queue.shape[2] - front, window, lookahead)
    for i in range(skip + num_frames):
        stepped = queue.clone()
        for start, keep, end in reversed(calls):
            frames = [min(max(i + p - front - skip, 0), num_frames - 1) for p in range(start, end)]
            output = model(queue[:, :, start:end], labels[start:end], frames)
            stepped[:, :, keep:end] = step(output[:, :, keep - start :], queue[:, :, keep:end], labels[keep:end])
        if i >= skip:
            yield stepped[:, :, front].clone()  # a copy: a view would keep the whole queue alive
        queue = torch.cat([stepped[:, :, 1:], noise()], dim=2)


def warmup_frames(num_levels: int, window: int) -> int:
    """S - f: the frames the first queue emits before the start clip's own frames (its places
    0..S-f-1 hold the clip's first frame re-noised, :func:`diagonal_queue`)."""
    return num_levels - window
