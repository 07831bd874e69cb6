"""Window denoising building blocks (plain tensors and callables)."""

import pytest
import torch

from plugdiff.pipelines import WindowSettings, context_windows, denoise_in_windows, reuse_noise, window_weights


@pytest.mark.parametrize(
    "frames, length, stride", [(48, 16, 4), (50, 16, 4), (16, 16, 4), (10, 16, 4), (33, 8, 8), (17, 16, 1)]
)
def test_windows_cover_every_frame_in_order(frames, length, stride):
    windows = context_windows(frames, length, stride)
    assert all(len(w) == min(length, frames) for w in windows)
    assert all(w == list(range(w[0], w[0] + len(w))) for w in windows)
    assert sorted({f for w in windows for f in w}) == list(range(frames))
    assert windows[0][0] == 0 and windows[-1][-1] == frames - 1
    starts = [w[0] for w in windows]
    assert all(0 < b - a <= stride for a, b in zip(starts, starts[1:]))


def test_window_weights():
    assert window_weights(16, "pyramid").tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 8, 7, 6, 5, 4, 3, 2, 1]
    assert window_weights(5, "pyramid").tolist() == [1, 2, 3, 2, 1]
    assert window_weights(4, "flat").tolist() == [1, 1, 1, 1]


def test_frame_local_model_is_unchanged_by_windowing():
    """A model with no temporal interaction gives the same output however the video is cut."""
    latents = torch.randn(2, 4, 40, 3, 3)
    model = lambda x, frames: torch.sin(3 * x) + 0.1 * x**2
    for length, stride, scheme in [(16, 4, "pyramid"), (8, 8, "flat"), (16, 1, "pyramid")]:
        windows = context_windows(40, length, stride)
        out = denoise_in_windows(model, latents, windows, window_weights(length, scheme))
        assert torch.allclose(out, model(latents, None), atol=1e-6)


def test_fusion_is_the_weighted_average():
    """Each window returns its own index: the fused value of a frame is the weighted mean of the
    indices of the windows that contain it."""
    windows = context_windows(12, 8, 2)
    weights = window_weights(8, "pyramid")
    counter = iter(range(len(windows)))
    out = denoise_in_windows(
        lambda x, frames: torch.full_like(x, float(next(counter))), torch.zeros(1, 1, 12, 1, 1), windows, weights
    )
    for f in range(12):
        num = sum(float(weights[w.index(f)]) * k for k, w in enumerate(windows) if f in w)
        den = sum(float(weights[w.index(f)]) for w in windows if f in w)
        assert out[0, 0, f, 0, 0].item() == pytest.approx(num / den)


def test_noise_reuse_shuffles_the_first_window():
    noise = torch.randn(1, 4, 40, 2, 2)
    out = reuse_noise(noise, 16, 4, torch.Generator().manual_seed(0))
    assert torch.equal(out[:, :, :16], noise[:, :, :16])
    first = {tuple(noise[0, :, f].flatten().tolist()) for f in range(16)}
    assert all(tuple(out[0, :, f].flatten().tolist()) in first for f in range(40))  # only first-window noise
    block = {tuple(out[0, :, f].flatten().tolist()) for f in range(16, 20)}
    assert block == {tuple(noise[0, :, f].flatten().tolist()) for f in range(0, 4)}  # a permutation of frames 0-3
    assert torch.equal(out, reuse_noise(noise, 16, 4, torch.Generator().manual_seed(0)))  # seeded


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(context_length=0), "context_length"),
        (dict(context_stride=17), "context_stride"),
        (dict(weighting="gaussian"), "weighting"),
        (dict(noise_reuse="repeat"), "noise_reuse"),
        (dict(context_length=16.0), "context_length"),
    ],
)
def test_bad_window_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WindowSettings(**kwargs)
