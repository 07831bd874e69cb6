"""Per-frame noise levels in training (shapesworld.frame_noise): the diagonal pattern, the noisy
clip and the weighted loss it gives, the track loss and word contrast on per-frame timesteps, and
the trainer's UNet call with a timestep per frame."""

from types import SimpleNamespace

import pytest
import torch

from plugdiff.shapesworld.frame_noise import diagonal_timesteps, per_frame_abar
from plugdiff.shapesworld.models import video_scheduler
from plugdiff.shapesworld.track_loss import track_loss
from plugdiff.shapesworld.training import Trainer
from plugdiff.shapesworld.word_contrast import word_contrast_loss

T = 1000


def test_share_zero_keeps_the_clip_s_timestep_in_every_frame_and_draws_nothing():
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    t = torch.tensor([0, 500, 999])
    assert torch.equal(diagonal_timesteps(t, 16, 0.0, g, T), t[:, None].expand(3, 16))
    assert torch.equal(g.get_state(), state)


def test_ramps_rise_along_the_frames_around_the_clip_s_timestep():
    g = torch.Generator().manual_seed(1)
    frames = 16
    t = torch.randint(0, T, (4000,), generator=g)
    levels = diagonal_timesteps(t, frames, 1.0, g, T)
    assert levels.shape == (4000, frames) and levels.dtype == t.dtype
    assert int(levels.min()) >= 0 and int(levels.max()) <= T - 1
    steps = levels.diff(dim=1)
    assert bool((steps >= 0).all()) and int(steps.max()) <= T / (frames - 1) + 1
    inside = (levels > 0).all(1) & (levels < T - 1).all(1)  # no frame held at an end
    middle = levels[:, frames // 2 - 1 : frames // 2 + 1].float().mean(1)  # even F: between two frames
    assert (middle[inside] - t[inside].float()).abs().max() <= 1.0
    span = (levels[:, -1] - levels[:, 0]).float()
    assert (span < 50).float().mean() > 0.03 and (span > 800).float().mean() > 0.03  # flat to most of the schedule
    assert bool((levels[:, 0] == 0).any()) and bool((levels[:, -1] == T - 1).any())  # clean heads, pure-noise tails


def test_the_share_picks_which_clips_ramp():
    g = torch.Generator().manual_seed(2)
    t = torch.full((4000,), 500)
    levels = diagonal_timesteps(t, 8, 0.25, g, T)
    ramped = (levels != 500).any(1).float().mean()
    assert abs(float(ramped) - 0.25) < 0.03
    with pytest.raises(ValueError, match="share"):
        diagonal_timesteps(t, 8, 1.5, g, T)


def test_per_frame_abar_broadcasts_per_sample_or_per_frame():
    abar = video_scheduler().alphas_cumprod
    t = torch.tensor([3, 900])
    assert torch.equal(per_frame_abar(abar, t, 5), abar.float()[t].view(2, 1, 1, 1, 1))
    levels = torch.tensor([[0, 10, 20], [500, 600, 999]])
    shaped = per_frame_abar(abar, levels, 5)
    assert shaped.shape == (2, 1, 3, 1, 1)
    assert all(float(shaped[b, 0, f, 0, 0]) == float(abar.float()[levels[b, f]]) for b in range(2) for f in range(3))


def _trainer(seed=0):
    args = SimpleNamespace(lr=1e-3, ema=0.9, seed=seed, device="cpu")
    return Trainer(args, {"m": torch.nn.Linear(1, 1)})


def test_epsilon_loss_noises_each_frame_to_its_own_level_and_weights_it():
    """Same noise twice (the generator state restored), clean clips 0 and 1: the difference of the
    two noisy clips is sqrt(abar) of each frame's own level; with a zero prediction the weighted
    loss is the per-frame weight times that frame's mean squared noise."""
    scheduler = video_scheduler()
    trainer = _trainer()
    seen = {}

    def predict(noisy, t):
        seen.setdefault("noisy", []).append(noisy)
        seen["t"] = t
        return torch.zeros_like(noisy)

    shape = (6, 4, 8, 3, 3)
    state = trainer.noise.get_state()
    trainer.epsilon_loss(scheduler, torch.zeros(shape), predict, frame_share=1.0)
    trainer.noise.set_state(state)
    loss = trainer.epsilon_loss(scheduler, torch.ones(shape), predict, frame_share=1.0, max_weight=5.0)
    t = seen["t"]
    assert t.shape == (6, 8) and bool((t.diff(dim=1) >= 0).all()) and bool((t.diff(dim=1) > 0).any())
    abar = scheduler.alphas_cumprod.float()[t]  # (B, F)
    difference = seen["noisy"][1] - seen["noisy"][0]  # sqrt(abar) per frame
    torch.testing.assert_close(difference, abar.sqrt()[:, None, :, None, None].expand(shape), rtol=0, atol=1e-6)
    noise = seen["noisy"][0] / (1 - abar).sqrt()[:, None, :, None, None]
    weight = ((1 - scheduler.alphas_cumprod.double()) / scheduler.alphas_cumprod.double()).clamp(1.0, 5.0)
    weight = (weight / weight.mean())[t].float()
    expected = (weight * noise.pow(2).mean((1, 3, 4))).mean()
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=0)


def test_epsilon_loss_without_frame_noise_draws_as_before():
    """frame_share 0 takes one timestep per sample and the scheduler's own add_noise."""
    scheduler = video_scheduler()
    seen = []
    x0 = torch.randn(3, 4, 5, 2, 2)

    def predict(noisy, t):
        seen.append((noisy, t))
        return torch.zeros_like(noisy)

    a, b = _trainer(), _trainer()
    a.epsilon_loss(scheduler, x0, predict)
    b.epsilon_loss(scheduler, x0, predict, frame_share=0.0)
    (noisy_a, t_a), (noisy_b, t_b) = seen
    assert t_a.shape == (3,) and torch.equal(t_a, t_b) and torch.equal(noisy_a, noisy_b)
    g = torch.Generator().manual_seed(2)  # the trainer's noise generator: seed + 2
    noise = torch.randn(x0.shape, generator=g)
    assert torch.equal(noisy_a, scheduler.add_noise(x0, noise, t_a))


def _clip(frames=8, seed=0):
    from plugdiff.shapesworld.world import random_spec, render_clip

    g = torch.Generator().manual_seed(seed)
    spec = random_spec(g, directions=["right"], include_held_out=True, num_frames=frames, wrap=True)
    return render_clip(spec, frames).transpose(0, 1)[None]  # (1, 3, F, H, W)


def test_track_loss_with_one_level_in_every_frame_is_the_per_clip_loss():
    abar = video_scheduler().alphas_cumprod
    z0 = torch.cat([_clip(seed=0), _clip(seed=1)])
    g = torch.Generator().manual_seed(3)
    eps = torch.randn(z0.shape, generator=g)
    t = torch.tensor([200, 600])
    noisy = video_scheduler().add_noise(z0, eps, t)
    pred = eps + 0.1 * torch.randn(z0.shape, generator=g)
    everyone = torch.ones(2, dtype=torch.bool)
    per_clip = track_loss(z0, noisy, t, pred, abar, everyone, periodic=True, max_t=950)
    per_frame = track_loss(z0, noisy, t[:, None].expand(-1, 8), pred, abar, everyone, periodic=True, max_t=950)
    assert float(per_clip) > 0
    torch.testing.assert_close(per_frame, per_clip, rtol=1e-6, atol=0)
    ramp = torch.tensor([[100] * 7 + [960], [600] * 8])  # clip 0 has a frame above max_t: not counted
    only_second = track_loss(z0[1:], noisy[1:], t[1:], pred[1:], abar, everyone[1:], periodic=True, max_t=950)
    torch.testing.assert_close(
        track_loss(z0, noisy, ramp, pred, abar, everyone, periodic=True, max_t=950), only_second, rtol=1e-6, atol=0
    )


def test_word_contrast_counts_a_clip_only_with_every_frame_in_range():
    abar = video_scheduler().alphas_cumprod
    z0 = torch.cat([_clip(seed=0), _clip(seed=1)])
    called = []

    def predict_swapped(index, noisy, t):
        called.append((index.tolist(), t))
        return torch.zeros_like(noisy)

    eligible = torch.ones(2, dtype=torch.bool)
    levels = torch.tensor([[700] + [800] * 7, [800] * 8])  # clip 0 has a frame below min_t
    word_contrast_loss(z0, z0, levels, predict_swapped, abar, eligible, periodic=True, min_t=750, max_t=950)
    assert called[0][0] == [1] and called[0][1].shape == (1, 8)
