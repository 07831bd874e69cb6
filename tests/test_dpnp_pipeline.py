"""DPnPPipeline / DPSPipeline: thin diffusers wrappers over dpnp_sample / dps_sample (tiny UNet)."""

import numpy as np
import pytest
import torch
from diffusers import DDPMScheduler, UNet2DModel
from PIL import Image

from plugdiff.pipelines import DPnPPipeline, DPSPipeline, PosteriorPipelineOutput
from plugdiff.pipelines.posterior.dpnp import dpnp_sample
from plugdiff.pipelines.posterior.dps import dps_sample
from plugdiff.pipelines.posterior.operators import Inpainting, PhaseRetrieval, Quantized1Bit, SuperResolution
from plugdiff.pipelines.posterior.proximal_sampling import LangevinSettings
from plugdiff.testing import tiny_unet2d

FAST = dict(recipe="posterior", etas=[0.5, 0.2], num_dds_steps=2)  # from noise: 2 iterations x 2 UNet evaluations
FAST_DPS = dict(num_inference_steps=3)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _pipe(cls, unet=None, **scheduler_kwargs):
    # eval mode, as from_pretrained gives (a fresh module is in training mode: other kernels)
    unet = (unet or tiny_unet2d()).eval()
    pipe = cls(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=1000, **scheduler_kwargs))
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def dpnp():
    return _pipe(DPnPPipeline)


@pytest.fixture(scope="module")
def dps():
    return _pipe(DPSPipeline)


@pytest.fixture(scope="module")
def truth():
    """A smooth (1, 3, 16, 16) image in [-1, 1]."""
    i = torch.linspace(-1, 1, 16)
    rows, cols = i[:, None].expand(16, 16), i[None, :].expand(16, 16)
    return torch.stack([0.8 * rows * cols, 0.6 * torch.sin(3 * rows), 0.5 * cols])[None]


@pytest.fixture(scope="module")
def inpainting(truth):
    operator = Inpainting("box")
    return operator, operator.measure(truth, generator=_gen(1))


def check_outputs(out, output_type, n, size=16):
    assert isinstance(out, PosteriorPipelineOutput)
    if output_type == "pil":
        assert isinstance(out.images, list) and len(out.images) == n and len(out.mean) == 1
        assert all(isinstance(im, Image.Image) and im.mode == "RGB" for im in out.images + out.mean)
        assert all(im.size == (size, size) for im in out.images + out.mean)
        std = out.std
        assert isinstance(std, np.ndarray) and std.shape == (1, size, size, 3)
    elif output_type == "np":
        assert out.images.shape == (n, size, size, 3) and out.mean.shape == out.std.shape == (1, size, size, 3)
        assert out.images.min() >= 0 and out.images.max() <= 1
        # mean and std are those of the samples (std in [-1, 1] units = 2x the [0, 1] units)
        np.testing.assert_allclose(out.mean[0], out.images.mean(0), atol=1e-6)
        np.testing.assert_allclose(out.std[0], 2 * out.images.std(0, ddof=1 if n > 1 else 0), atol=1e-5)
        std = out.std
    else:
        assert out.images.shape == (n, 3, size, size) and out.mean.shape == out.std.shape == (1, 3, size, size)
        assert out.images.min() >= -1 and out.images.max() <= 1 and out.images.dtype == torch.float32
        std = out.std.numpy()
    assert np.isfinite(std).all() and (std >= 0).all()
    if n > 1:
        assert std.max() > 0
    else:
        assert (std == 0).all()
    assert isinstance(out.model_evals, int) and out.model_evals > 0


# ---------------------------------------------------------------------- end to end
@pytest.mark.parametrize("output_type", ["pil", "np", "pt"])
def test_dpnp_inpainting_outputs(dpnp, inpainting, output_type):
    operator, y = inpainting
    out = dpnp(y, operator, num_samples=3, output_type=output_type, generator=_gen(), **FAST)
    check_outputs(out, output_type, 3)
    assert out.model_evals == 4 and out.acceptance_rate is None  # exact proximal step, no MALA


def test_dpnp_super_resolution_takes_the_image_size_from_the_unet(dpnp, truth):
    operator = SuperResolution(2, "average")
    y = operator.measure(truth, generator=_gen(1))[0]  # (3, 8, 8), no batch axis
    out = dpnp(
        y, "super_resolution", operator_kwargs={"factor": 2}, num_samples=2, output_type="pt", generator=_gen(), **FAST
    )
    check_outputs(out, "pt", 2)


def test_dpnp_phase_retrieval_with_mala(dpnp, truth):
    operator = PhaseRetrieval(oversampling=2.0)
    y = operator.measure(truth, generator=_gen(1))
    assert y.shape == (1, 3, 32, 32)
    short = LangevinSettings(num_steps=10, step_scale=1.0, damping=0.0, metropolis=True)
    out = dpnp(y, operator, pcs=short, num_samples=2, output_type="np", generator=_gen(), **FAST)
    check_outputs(out, "np", 2)
    assert 0 <= out.acceptance_rate <= 1


def test_dpnp_quantized_1bit_from_a_uint8_image(dpnp, truth):
    operator = Quantized1Bit()
    signs = operator.measure(truth, generator=_gen(1))
    as_uint8 = ((signs[0].permute(1, 2, 0) + 1) * 127.5).round().numpy().astype(np.uint8)  # 0 / 255, HxWxC
    out = dpnp(as_uint8, "quantized_1bit", num_samples=2, pcs="mala", output_type="pt", generator=_gen(), **FAST)
    check_outputs(out, "pt", 2)
    same = dpnp(signs, operator, num_samples=2, pcs="mala", output_type="pt", generator=_gen(), **FAST)
    assert torch.equal(out.images, same.images)  # the uint8 image is the same measurement


@pytest.mark.parametrize("output_type", ["pil", "np", "pt"])
def test_dps_inpainting_outputs(dps, inpainting, output_type):
    operator, y = inpainting
    out = dps(y, "inpainting", num_samples=3, output_type=output_type, generator=_gen(), **FAST_DPS)
    check_outputs(out, output_type, 3)
    assert out.model_evals == 3 and out.acceptance_rate is None


def test_pil_measurement_and_tuple_output(dpnp, inpainting):
    operator, y = inpainting
    pil = DPnPPipeline.numpy_to_pil(((y.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy())[0]
    images, mean, std = dpnp(pil, operator, num_samples=2, generator=_gen(), return_dict=False, **FAST)
    assert len(images) == 2 and len(mean) == 1 and std.shape == (1, 16, 16, 3)


def test_num_samples_reproducibility_and_seeds(dpnp, dps, inpainting):
    operator, y = inpainting
    for pipe, kwargs in ((dpnp, FAST), (dps, FAST_DPS)):
        first = pipe(y, operator, num_samples=3, output_type="pt", generator=_gen(5), **kwargs).images
        again = pipe(y, operator, num_samples=3, output_type="pt", generator=_gen(5), **kwargs).images
        other = pipe(y, operator, num_samples=3, output_type="pt", generator=_gen(6), **kwargs).images
        assert len(first) == 3 and torch.equal(first, again) and not torch.equal(first, other)
        assert not torch.equal(first[0], first[1])  # independent chains


def test_callback_and_progress_ticks_under_no_grad(dpnp, dps, inpainting):
    """The user's callback gets every tick; sampling runs under no_grad (DPS and the Langevin
    proximal steps switch gradients on only where they need them)."""
    operator, y = inpainting
    seen = []
    dpnp(
        y,
        operator,
        num_samples=2,
        callback=lambda k, eta, x: seen.append((k, eta, tuple(x.shape), torch.is_grad_enabled())),
        **FAST,
    )
    assert seen == [(0, 0.5, (2, 3, 16, 16), False), (1, 0.2, (2, 3, 16, 16), False)]
    steps = []
    dps(y, operator, callback=lambda i, t, x: steps.append((t, torch.is_grad_enabled(), x.requires_grad)), **FAST_DPS)
    assert steps == [(999, False, False), (500, False, False), (0, False, False)]
    assert torch.is_grad_enabled()


def test_eps_binding_casts_to_the_unet_dtype_and_back(inpainting):
    operator, y = inpainting
    pipe = _pipe(DPSPipeline).to(torch.float64)
    out = pipe(y, operator, output_type="pt", generator=_gen(), **FAST_DPS)
    assert out.images.dtype == torch.float32 and pipe.unet.dtype == torch.float64


def test_dpnp_init_tensor_is_repeated_over_samples(dpnp, inpainting, truth):
    operator, y = inpainting
    out = dpnp(y, operator, init=truth[0], num_samples=2, output_type="pt", generator=_gen(), **FAST)
    assert out.images.shape == (2, 3, 16, 16)


# ---------------------------------------------------------------------- thin wrapper
def test_pipelines_equal_the_plain_samplers_bit_for_bit(dpnp, dps, inpainting):
    operator, y = inpainting
    unet, ac = dpnp.unet, dpnp.scheduler.alphas_cumprod

    def eps(x_t, t):
        return unet(x_t, t).sample

    y3 = y.repeat(3, 1, 1, 1)
    with torch.no_grad():
        direct = dpnp_sample(
            eps, ac, operator, y3, etas=[0.5, 0.2], num_steps=2, clip_denoised=True, generator=_gen(3)
        )
    piped = dpnp(y, operator, num_samples=3, output_type="pt", generator=_gen(3), **FAST)
    assert torch.equal(piped.images, direct.samples) and piped.model_evals == direct.model_evals

    direct = dps_sample(eps, ac, operator, y3, num_steps=3, clip_denoised=True, generator=_gen(3))
    piped = dps(y, operator, num_samples=3, output_type="pt", generator=_gen(3), **FAST_DPS)
    assert torch.equal(piped.images, direct.samples.clamp(-1, 1))


def test_learned_variance_unet_uses_the_epsilon_half():
    torch.manual_seed(0)
    unet = UNet2DModel(
        sample_size=16,
        in_channels=3,
        out_channels=6,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
    )
    pipe = _pipe(DPnPPipeline, unet=unet)
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([10, 10])
    with torch.no_grad():
        assert torch.equal(pipe.eps_model(x, t), unet(x, t).sample[:, :3])
    out = pipe(torch.zeros(3, 16, 16), "inpainting", output_type="pt", generator=_gen(), **FAST)
    assert out.images.shape == (1, 3, 16, 16)


@pytest.mark.parametrize("cls,kwargs", [(DPnPPipeline, FAST), (DPSPipeline, FAST_DPS)])
def test_save_pretrained_round_trip(tmp_path, inpainting, cls, kwargs):
    operator, y = inpainting
    pipe = _pipe(cls)
    pipe.save_pretrained(tmp_path)
    assert (tmp_path / "unet" / "diffusion_pytorch_model.safetensors").exists()
    loaded = cls.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert isinstance(loaded, cls) and isinstance(loaded.scheduler, DDPMScheduler)
    a = pipe(y, operator, num_samples=2, output_type="pt", generator=_gen(), **kwargs)
    b = loaded(y, operator, num_samples=2, output_type="pt", generator=_gen(), **kwargs)
    assert torch.equal(a.images, b.images) and torch.equal(a.std, b.std)


# ---------------------------------------------------------------------- bad input
BAD_INPUTS = {
    "measurement shape": (
        dict(measurement=torch.zeros(3, 16, 16), operator="super_resolution"),
        r"measurement `y` must have shape \(1, 3, 8, 8\)",
    ),
    "measurement batch": (dict(measurement=torch.zeros(2, 3, 16, 16)), "`measurement` must be one measurement"),
    "measurement type": (dict(measurement=[1.0, 2.0]), "`measurement` must be a tensor"),
    "measurement float array": (
        dict(measurement=np.zeros((16, 16, 3))),
        "`measurement` as a numpy array must be a uint8",
    ),
    "non-finite measurement": (
        dict(measurement=torch.full((3, 16, 16), float("nan"))),
        "measurement `y` has non-finite",
    ),
    "unknown operator": (dict(operator="deblur_magic"), "unknown operator 'deblur_magic'"),
    "operator type": (dict(operator=42), "`operator` must be a ForwardOperator"),
    "operator kwargs": (dict(operator=Inpainting(), operator_kwargs={"noise_std": 0.1}), "`operator_kwargs`"),
    "unknown operator kwarg": (
        dict(operator="inpainting", operator_kwargs={"factor": 2}),
        "unknown argument 'factor'",
    ),
    "image size not divisible": (dict(image_shape=(15, 15)), r"`image_shape` \(3, 15, 15\) \(given\).*multiples of 2"),
    "image size from measurement": (
        dict(measurement=torch.zeros(3, 15, 15)),
        r"`image_shape` \(3, 15, 15\) \(taken from the measurement\)",
    ),
    "image channels": (dict(image_shape=(1, 16, 16)), r"`image_shape` \(1, 16, 16\).*in_channels=3"),
    "image shape form": (dict(image_shape=(16,)), "`image_shape` must be"),
    "increasing etas": (dict(etas=[0.2, 0.5]), "`etas` must be non-increasing"),
    "num_samples": (dict(num_samples=0), "`num_samples` must be an integer >= 1"),
    "output_type": (dict(output_type="latent"), "unknown `output_type`='latent'"),
    "generator list": (dict(generator=[_gen(), _gen()]), "`generator` must be one torch.Generator"),
    "dds": (dict(dds="euler"), "`dds`='euler'"),
    "pcs": (dict(pcs="exact", operator="quantized_1bit", measurement=torch.ones(3, 16, 16)), "`pcs`='exact'"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_a_clear_error_before_any_model_call(dpnp, monkeypatch, case):
    def no_model_calls(*args, **kwargs):
        raise AssertionError("the UNet ran before the inputs were checked")

    monkeypatch.setattr(dpnp.unet, "forward", no_model_calls)
    call = dict(measurement=torch.zeros(3, 16, 16), operator="inpainting", etas=[0.5, 0.2], num_dds_steps=2)
    overrides, message = BAD_INPUTS[case]
    call.update(overrides)
    with pytest.raises(ValueError, match=message):
        dpnp(call.pop("measurement"), call.pop("operator"), **call)


def test_dps_bad_input(dps):
    y = torch.zeros(3, 16, 16)
    with pytest.raises(ValueError, match="`step_size` must be a finite number > 0"):
        dps(y, "inpainting", step_size=-1.0, num_inference_steps=3)
    with pytest.raises(ValueError, match="`num_inference_steps` must be None or an integer from 1 to"):
        dps(y, "inpainting", num_inference_steps=0)
    with pytest.raises(ValueError, match="`num_samples`"):
        dps(y, "inpainting", num_samples=-1)


@pytest.mark.parametrize("cls", [DPnPPipeline, DPSPipeline])
def test_v_prediction_scheduler_is_rejected(cls):
    with pytest.raises(ValueError, match="prediction_type='v_prediction'.*epsilon"):
        _pipe(cls, prediction_type="v_prediction")
    pipe = _pipe(cls)
    pipe.scheduler = DDPMScheduler(prediction_type="v_prediction")  # swapped in after construction
    with pytest.raises(ValueError, match="prediction_type='v_prediction'"):
        pipe(torch.zeros(3, 16, 16), "inpainting")
