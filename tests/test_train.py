"""The ShapesWorld training script: seeded, resumable to the bit, safetensors-only output."""

import pytest
import torch
from diffusers import DDPMPipeline
from safetensors.torch import load_file

from plugdiff.shapesworld.train import main
from plugdiff.weights import load_pipeline


def _weights(folder):
    return load_file(str(folder / "unet" / "diffusion_pytorch_model.safetensors"))


def _train(out, steps, *extra):
    return main(
        [
            "ddpm",
            "--out",
            str(out),
            "--steps",
            str(steps),
            "--batch",
            "2",
            "--size",
            "8",
            "--checkpoint-every",
            "2",
            *extra,
        ]
    )


def test_resumed_training_equals_uninterrupted_training(tmp_path):
    straight = _train(tmp_path / "a", 4)
    _train(tmp_path / "b", 2)
    resumed = _train(tmp_path / "b", 4, "--resume")
    assert straight.step == resumed.step == 4 and straight.losses == resumed.losses
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_output_is_a_safetensors_ddpm_pipeline(tmp_path):
    _train(tmp_path / "m", 2)
    assert not list((tmp_path / "m").rglob("*.bin"))
    pipe = load_pipeline(str(tmp_path / "m"))
    assert isinstance(pipe, DDPMPipeline) and pipe.scheduler.config.prediction_type == "epsilon"
    assert pipe.scheduler.config.beta_schedule == "linear" and pipe.scheduler.config.num_train_timesteps == 1000
    images = pipe(
        batch_size=1, num_inference_steps=2, output_type="np", generator=torch.Generator().manual_seed(0)
    ).images
    assert images.shape == (1, 8, 8, 3)


def test_bad_arguments_and_missing_checkpoint(tmp_path):
    with pytest.raises(SystemExit):
        _train(tmp_path / "x", 0)
    with pytest.raises(SystemExit):
        main(["ddpm", "--out", str(tmp_path / "x"), "--size", "10"])
    with pytest.raises(SystemExit, match="no checkpoint"):
        _train(tmp_path / "empty", 2, "--resume")


def test_bf16_autocast_trains_and_keeps_float32_weights(tmp_path):
    trainer = _train(tmp_path / "bf16", 2, "--mixed-precision", "bf16")
    assert all(0 < loss < 10 for loss in trainer.losses)
    assert all(v.dtype == torch.float32 for v in _weights(tmp_path / "bf16").values())


def test_focused_timesteps_land_in_their_range_in_their_share():
    """focus=(low, high, share): about ``share`` of the samples draw t from [low, high], the rest
    from all steps; share 1 puts every t in the range, and the range's ends are reachable."""
    from types import SimpleNamespace

    from diffusers import DDPMScheduler

    from plugdiff.shapesworld.training import Trainer

    args = SimpleNamespace(lr=1e-3, ema=0.9, seed=0, device="cpu")
    scheduler = DDPMScheduler(num_train_timesteps=1000)
    trainer = Trainer(args, {"m": torch.nn.Linear(1, 1)})
    seen = []

    def predict(noisy, t):
        seen.append(t)
        return torch.zeros_like(noisy)

    x0 = torch.zeros(4000, 1)
    trainer.epsilon_loss(scheduler, x0, predict, focus=(600, 850, 1.0))
    t = seen[-1]
    assert int(t.min()) == 600 and int(t.max()) == 850
    trainer.epsilon_loss(scheduler, x0, predict, focus=(600, 850, 0.5))
    inside = ((seen[-1] >= 600) & (seen[-1] <= 850)).float().mean()
    expected = 0.5 + 0.5 * 251 / 1000  # the focused half plus the uniform half's hits
    assert abs(float(inside) - expected) < 0.03
    trainer.epsilon_loss(scheduler, x0, predict)
    inside = ((seen[-1] >= 600) & (seen[-1] <= 850)).float().mean()
    assert abs(float(inside) - 0.251) < 0.03


def test_capped_truncated_snr_weight_of_the_epsilon_loss():
    """max_weight 1 is the plain mean squared error; above 1 every sample's squared error is
    weighted by min(cap, max(1, (1 - abar_t) / abar_t)) divided by that weight's mean over t."""
    from types import SimpleNamespace

    from diffusers import DDPMScheduler

    from plugdiff.shapesworld.training import Trainer

    args = SimpleNamespace(lr=1e-3, ema=0.9, seed=0, device="cpu")
    scheduler = DDPMScheduler(num_train_timesteps=1000)
    x0 = torch.randn(64, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    seen = {}

    def predict(noisy, t):
        seen["noisy"], seen["t"] = noisy, t
        return torch.zeros_like(noisy)  # the error is then the noise itself

    def loss(cap):
        trainer = Trainer(args, {"m": torch.nn.Linear(1, 1)})
        value = trainer.epsilon_loss(scheduler, x0, predict, max_weight=cap)
        abar = scheduler.alphas_cumprod.double()[seen["t"]]
        noise = (seen["noisy"].double() - abar.sqrt()[:, None, None, None] * x0) / (1 - abar).sqrt()[
            :, None, None, None
        ]
        return float(value), noise.pow(2).flatten(1).mean(1), seen["t"]

    plain, per_sample, t = loss(1.0)
    assert abs(plain - float(per_sample.mean())) < 1e-5
    weighted, per_sample, t = loss(5.0)
    snr = scheduler.alphas_cumprod.double() / (1 - scheduler.alphas_cumprod.double())
    weight = (1 / snr).clamp(1, 5)
    expected = float(((weight / weight.mean())[t] * per_sample).mean())
    assert abs(weighted - expected) < 1e-5 * expected
    assert weight[0] == 1 and weight[-1] == 5  # low noise keeps weight 1, high noise gets the cap
