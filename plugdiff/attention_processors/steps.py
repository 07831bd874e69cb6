"""Where in the denoising trajectory a step lies, shared by the processors that act on a range of
steps (TiARA, PromptBlend). Progress is measured by noise level: ``1 - t / T``, 0 at pure noise,
close to 1 at the last step."""

from __future__ import annotations


def check_step_range(step_range, name: str = "step_range") -> tuple[float, float]:
    """(start, end) with 0 <= start <= end <= 1."""
    try:
        if isinstance(step_range, str):
            raise TypeError
        start, end = (float(v) for v in step_range)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a pair (start, end) of fractions, got {step_range!r}.") from None
    if not 0.0 <= start <= end <= 1.0:
        raise ValueError(f"`{name}` must satisfy 0 <= start <= end <= 1, got {step_range!r}.")
    return start, end


def scalar_timestep(timestep) -> float:
    """The timestep of a UNet call as a float (an int, a 0-d tensor or one per batch element)."""
    import torch  # here, not at the top: the step-range check is used where torch is not loaded

    return float(torch.as_tensor(timestep).flatten()[0])


def in_step_range(timestep: float | None, num_train_timesteps: int, step_range: tuple[float, float]) -> bool:
    """Whether ``start <= 1 - timestep / T <= end``; True when the timestep is unknown (None)."""
    if timestep is None:
        return True
    progress = 1.0 - timestep / num_train_timesteps
    start, end = step_range
    return start <= progress <= end
