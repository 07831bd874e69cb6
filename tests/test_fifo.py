"""FIFO-Diffusion: per-frame timesteps through the UNet, per-frame scheduler steps, the diagonal
queue against a naive reference, and flat memory."""

import pytest
import torch
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    UniPCMultistepScheduler,
)
from live_memory import LiveTensorBytes

from plugdiff.pipelines.animatediff.fifo import (
    CLEAN_TIMESTEP,
    FrameStepper,
    diagonal_queue,
    fifo_denoise,
    fifo_windows,
    warmup_frames,
)
from plugdiff.pipelines.animatediff.frame_timesteps import frame_timesteps
from plugdiff.samplers import AcceleratedDDIMScheduler, AcceleratedDDPMScheduler, AcceleratedLogSNRScheduler
from plugdiff.testing import motion_unet

BETAS = dict(beta_schedule="linear", beta_start=0.0001, beta_end=0.02, num_train_timesteps=1000)


def ddim(steps: int) -> DDIMScheduler:
    scheduler = DDIMScheduler(**BETAS, clip_sample=False, timestep_spacing="trailing", set_alpha_to_one=False)
    scheduler.set_timesteps(steps)
    return scheduler


# ---------------------------------------------------------------- per-frame timesteps in the UNet
@pytest.fixture(scope="module")
def unet():
    return motion_unet()


def unet_inputs(frames=6, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 4, frames, 8, 8, generator=g), torch.randn(batch * frames, 77, 32, generator=g)


@torch.no_grad()
def test_equal_timesteps_per_frame_are_the_stock_unet_bit_for_bit(unet):
    sample, context = unet_inputs()
    stock = unet(sample, torch.tensor([500, 300]), encoder_hidden_states=context).sample
    with frame_timesteps(unet) as frame_unet:
        ours = frame_unet(sample, torch.tensor([[500] * 6, [300] * 6]), encoder_hidden_states=context).sample
        inside = unet(sample, torch.tensor([500, 300]), encoder_hidden_states=context).sample  # plain calls untouched
    assert torch.equal(ours, stock) and torch.equal(inside, stock)
    after = unet(sample, torch.tensor([500, 300]), encoder_hidden_states=context).sample
    assert torch.equal(after, stock)  # hooks gone


@torch.no_grad()
def test_each_frame_gets_its_own_timestep():
    """With the motion modules' output projections zeroed the frames do not interact, so frame f
    of a per-frame call is the stock UNet on frame f alone at timestep t_f."""
    unet = motion_unet()
    for name, module in unet.named_modules():
        if name.endswith("proj_out") and ".motion_modules." in f".{name}":
            torch.nn.init.zeros_(module.weight)
            torch.nn.init.zeros_(module.bias)
    sample, context = unet_inputs(frames=4, batch=1)
    timesteps = torch.tensor([900, 600, 250, 20])
    with frame_timesteps(unet) as frame_unet:
        ours = frame_unet(sample, timesteps, encoder_hidden_states=context).sample
    for f, t in enumerate(timesteps):
        alone = unet(sample[:, :, f : f + 1], t, encoder_hidden_states=context[f : f + 1]).sample
        assert torch.allclose(ours[:, :, f : f + 1], alone, atol=1e-5)
    stock = unet(sample, 600, encoder_hidden_states=context).sample
    assert not torch.allclose(ours, stock, atol=1e-3)


def test_frame_timesteps_errors(unet):
    from plugdiff.testing import tiny_unet3d

    with pytest.raises(TypeError, match="UNetMotionModel"):
        with frame_timesteps(tiny_unet3d()):
            pass
    sample, context = unet_inputs(frames=4, batch=1)
    with frame_timesteps(unet) as frame_unet, pytest.raises(ValueError, match="shape"):
        frame_unet(sample, torch.tensor([1, 2, 3]), encoder_hidden_states=context)


# ---------------------------------------------------------------- per-frame scheduler steps
def make(cls, steps=8):
    kwargs = dict(BETAS)
    if cls in (DDIMScheduler, AcceleratedDDPMScheduler):
        kwargs["clip_sample"] = False
    scheduler = cls(**kwargs)
    scheduler.set_timesteps(steps)
    return scheduler


def toy_eps(x, t):
    return torch.tanh(0.7 * x + 0.001 * torch.as_tensor(t, dtype=x.dtype))


STEPPABLE = [
    DDIMScheduler,
    DDPMScheduler,
    EulerDiscreteScheduler,
    EulerAncestralDiscreteScheduler,
    AcceleratedDDPMScheduler,
]


@pytest.mark.parametrize("cls", STEPPABLE, ids=lambda c: c.__name__)
def test_frames_at_one_level_step_as_the_scheduler_loop(cls):
    """All frames at the same timestep: the stepper is the scheduler's own loop, bit for bit."""
    x = torch.randn(1, 2, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    reference, stepper_scheduler = make(cls), make(cls)
    stepper = FrameStepper(stepper_scheduler)
    ours, theirs = x.clone(), x.clone()
    g_ours, g_theirs = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    for t in reference.timesteps:
        levels = torch.full((3,), t)
        scaled = stepper.scale_model_input(ours, levels)
        ours = stepper.step(toy_eps(scaled, t), ours, levels, generator=g_ours)
        eps = toy_eps(reference.scale_model_input(theirs, t), t)
        theirs = reference.step(eps, t, theirs, generator=g_theirs).prev_sample
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("cls", STEPPABLE, ids=lambda c: c.__name__)
def test_each_frame_steps_from_its_own_level(cls):
    scheduler = make(cls)
    stepper = FrameStepper(scheduler)
    grid = scheduler.timesteps
    levels = grid[[6, 0, 3]]
    x = torch.randn(1, 2, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    eps = toy_eps(x, 0)
    ours = stepper.step(eps, x, levels, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)  # frames are stepped in order, each drawing its own noise
    for f, t in enumerate(levels):
        alone = make(cls)  # a fresh scheduler: no state from other frames
        expected = alone.step(eps[:, :, f : f + 1], t, x[:, :, f : f + 1], generator=g).prev_sample
        assert torch.equal(ours[:, :, f : f + 1], expected)
    assert not torch.equal(ours[:, :, 0], ours[:, :, 1])


@pytest.mark.parametrize(
    "cls",
    [
        AcceleratedDDIMScheduler,
        AcceleratedLogSNRScheduler,
        DPMSolverMultistepScheduler,
        UniPCMultistepScheduler,
        HeunDiscreteScheduler,
    ],
    ids=lambda c: c.__name__,
)
def test_schedulers_with_memory_cannot_step_per_frame(cls):
    with pytest.raises(ValueError, match="cannot"):
        FrameStepper(cls(**BETAS))


# ---------------------------------------------------------------- the queue
def naive_fifo(model, scheduler, queue, num_frames, window, lookahead, fresh):
    """Diagonal denoising written out frame by frame: a list of places, each with its latent; the
    place's level label read off its position; DDIM's update by its formula per frame."""
    S = len(scheduler.timesteps)
    front = window // 2 if lookahead else 0
    places = [queue[:, :, p] for p in range(queue.shape[2])]
    ascending = scheduler.timesteps.flip(0)

    def label(p):
        return torch.tensor(CLEAN_TIMESTEP) if p < front else ascending[p - front]

    stride = window // 2 if lookahead else window
    starts = list(range(0, S + front - window + 1, stride))
    out = []
    T = scheduler.config.num_train_timesteps
    for i in range(num_frames):
        new = list(places)
        for start in starts:
            idx = list(range(start, start + window))
            x = torch.stack([places[p] for p in idx], dim=2)
            t = torch.stack([label(p) for p in idx])
            eps = model(x, t, [min(max(i + p - front, 0), num_frames - 1) for p in idx])
            for j, p in enumerate(idx):
                if lookahead and j < window // 2:
                    continue  # each window keeps its later half
                tp = int(label(p))
                a = scheduler.alphas_cumprod[tp]
                prev = tp - T // S
                a_prev = scheduler.alphas_cumprod[prev] if prev >= 0 else scheduler.final_alpha_cumprod
                e = eps[:, :, j]
                x0 = (places[p] - (1 - a) ** 0.5 * e) / a**0.5
                new[p] = a_prev**0.5 * x0 + (1 - a_prev) ** 0.5 * e
        out.append(new[front])
        places = new[1:] + [fresh()[:, :, 0]]
    return torch.stack(out, dim=2)


def mixing_model(x, t, frames):
    """A model whose output for a frame depends on its timestep, its video frame and the whole window."""
    x = x.contiguous()
    t = t.to(x.dtype).view(1, 1, -1, 1, 1)
    f = torch.tensor(frames, dtype=x.dtype).view(1, 1, -1, 1, 1)
    return torch.tanh(0.8 * x + 0.3 * x.mean(dim=2, keepdim=True) + 0.0005 * t + 0.01 * f)


def run_both(model, window, partitions, lookahead, num_frames, seed=0):
    S = window * partitions
    scheduler = ddim(S)
    g = torch.Generator().manual_seed(seed)
    clip = torch.randn(1, 2, window, 3, 3, generator=g)
    noise = torch.randn(1, 2, S, 3, 3, generator=g)
    queue, labels = diagonal_queue(clip, scheduler.timesteps, scheduler.add_noise, noise, lookahead)
    stepper = FrameStepper(scheduler)
    fresh_ours, fresh_naive = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    ours = torch.stack(
        list(
            fifo_denoise(
                model,
                stepper.step,
                queue,
                labels,
                num_frames,
                window,
                lookahead,
                lambda: torch.randn(1, 2, 1, 3, 3, generator=fresh_ours),
            )
        ),
        dim=2,
    )
    naive = naive_fifo(
        model,
        scheduler,
        queue,
        num_frames,
        window,
        lookahead,
        lambda: torch.randn(1, 2, 1, 3, 3, generator=fresh_naive),
    )
    return ours, naive


@pytest.mark.parametrize(
    "window, partitions, lookahead", [(4, 1, False), (4, 2, False), (4, 1, True), (4, 3, True), (6, 2, True)]
)
def test_fifo_equals_naive_diagonal_denoising(window, partitions, lookahead):
    ours, naive = run_both(mixing_model, window, partitions, lookahead, num_frames=11)
    assert ours.shape == (1, 2, 11, 3, 3)
    assert torch.equal(ours, naive)


@pytest.mark.parametrize("partitions, lookahead", [(1, False), (2, True)])
@torch.no_grad()
def test_fifo_with_the_tiny_unet_equals_naive(unet, partitions, lookahead):
    """The same with AnimateDiff's UNet taking a timestep per frame: one queue position per step
    (one partition, no lookahead) as the issue's bar, and partitions with lookahead."""
    context = torch.randn(1, 77, 32, generator=torch.Generator().manual_seed(3))
    with frame_timesteps(unet) as frame_unet:

        def model(x, t, frames):
            x = x.contiguous()
            return frame_unet(x, t, encoder_hidden_states=context.expand(x.shape[2], -1, -1)).sample

        S = 4 * partitions
        scheduler = ddim(S)
        g = torch.Generator().manual_seed(0)
        clip, noise = torch.randn(1, 4, 4, 8, 8, generator=g), torch.randn(1, 4, S, 8, 8, generator=g)
        queue, labels = diagonal_queue(clip, scheduler.timesteps, scheduler.add_noise, noise, lookahead)
        fresh_a, fresh_b = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
        ours = torch.stack(
            list(
                fifo_denoise(
                    model,
                    FrameStepper(scheduler).step,
                    queue,
                    labels,
                    6,
                    4,
                    lookahead,
                    lambda: torch.randn(1, 4, 1, 8, 8, generator=fresh_a),
                )
            ),
            dim=2,
        )
        naive = naive_fifo(
            model, scheduler, queue, 6, 4, lookahead, lambda: torch.randn(1, 4, 1, 8, 8, generator=fresh_b)
        )
    assert torch.equal(ours, naive)


def test_skipping_the_warmup_drops_the_first_frames_and_shifts_the_video_frames():
    scheduler = ddim(8)
    g = torch.Generator().manual_seed(0)
    clip, noise = torch.randn(1, 2, 4, 3, 3, generator=g), torch.randn(1, 2, 8, 3, 3, generator=g)
    queue, labels = diagonal_queue(clip, scheduler.timesteps, scheduler.add_noise, noise, True)
    seen = []

    def model(x, t, frames):
        seen.append(frames)
        return mixing_model(x, t, [0] * len(frames))  # ignores the video frame

    def run(num_frames, skip):
        fresh = torch.Generator().manual_seed(4)
        return torch.stack(
            list(
                fifo_denoise(
                    model,
                    FrameStepper(scheduler).step,
                    queue,
                    labels,
                    num_frames,
                    4,
                    True,
                    lambda: torch.randn(1, 2, 1, 3, 3, generator=fresh),
                    skip,
                )
            ),
            dim=2,
        )

    assert warmup_frames(8, 4) == 4
    kept = run(9, 0)
    seen.clear()
    dropped = run(5, 4)
    assert torch.equal(dropped, kept[:, :, 4:])
    assert seen[0][0] == 0 and seen[-1][-1] == 4  # video frames counted from the first kept one, clamped


def test_windows_and_start_of_the_queue():
    assert fifo_windows(8, 4, False) == [(0, 0, 4), (4, 4, 8)]
    assert fifo_windows(8, 4, True) == [(0, 2, 4), (2, 4, 6), (4, 6, 8), (6, 8, 10)]  # 2 places in front
    with pytest.raises(ValueError, match="even"):
        fifo_windows(6, 3, True)
    scheduler = ddim(8)
    clip, noise = torch.randn(1, 2, 4, 3, 3), torch.randn(1, 2, 8, 3, 3)
    queue, labels = diagonal_queue(clip, scheduler.timesteps, scheduler.add_noise, noise, lookahead=True)
    assert labels.tolist() == [0, 0] + scheduler.timesteps.flip(0).tolist()
    assert torch.equal(queue[:, :, 0], clip[:, :, 0]) and torch.equal(queue[:, :, 1], clip[:, :, 0])
    for k in range(8):  # place k: clip frame max(0, k - (S - f)) at level k
        t = scheduler.timesteps[7 - k]
        a = scheduler.alphas_cumprod[t]
        expected = a**0.5 * clip[:, :, max(0, k - 4)] + (1 - a) ** 0.5 * noise[:, :, k]
        assert torch.allclose(queue[:, :, 2 + k], expected, atol=1e-6)


# ---------------------------------------------------------------- memory
@torch.no_grad()
def test_memory_is_flat_in_the_number_of_frames():
    """Peak bytes of live tensors while FIFO produces 512 frames (each one consumed as it comes,
    e.g. decoded and written) are within 1.1x of those for 64 frames (measured: equal). A
    2-frame window with lookahead and a one-layer 3D convolution as the model keep the 576
    frames to about 3 s of operator bookkeeping."""
    torch.manual_seed(0)
    net = torch.nn.Conv3d(4, 4, 3, padding=1)

    def model(x, t, frames):
        return net(x + 0.001 * t.to(x.dtype).view(1, 1, -1, 1, 1))

    scheduler = ddim(2)
    stepper = FrameStepper(scheduler)
    peaks = {}
    for frames in (64, 512):
        g = torch.Generator().manual_seed(0)
        clip, noise = torch.randn(1, 4, 2, 8, 8, generator=g), torch.randn(1, 4, 2, 8, 8, generator=g)
        with LiveTensorBytes() as memory:
            queue, labels = diagonal_queue(clip, scheduler.timesteps, scheduler.add_noise, noise, True)
            count = 0
            for frame in fifo_denoise(
                model, stepper.step, queue, labels, frames, 2, True, lambda: torch.randn(1, 4, 1, 8, 8, generator=g)
            ):
                count += 1
                del frame
            del queue
        assert count == frames
        peaks[frames] = memory.peak
    assert peaks[512] <= 1.1 * peaks[64], peaks
