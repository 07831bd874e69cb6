"""The authors' DPnP recipe and its pieces: tempered likelihoods, the warm start, per-eta
clipping, phase retrieval's sign ambiguity, and the float32 alpha-bar of the DDS samplers."""

import pytest
import torch
from posterior_problems import ALPHAS_CUMPROD, ring_prior

from plugdiff.evaluation import GaussianMixture
from plugdiff.pipelines import DPnPPipeline
from plugdiff.pipelines.posterior.diffusion_denoising import dds_ddim, dds_ddpm
from plugdiff.pipelines.posterior.dpnp import dpnp_sample
from plugdiff.pipelines.posterior.dpnp_recipes import (
    GAUSSIAN_LIKELIHOOD_WEIGHT,
    ONE_BIT_LIKELIHOOD_WEIGHT,
    dpnp_recipe,
    likelihood_weight_for,
)
from plugdiff.pipelines.posterior.operators import (
    Inpainting,
    MatrixOperator,
    PhaseRetrieval,
    Quantized1Bit,
    SuperResolution,
)
from plugdiff.pipelines.posterior.posterior_sampling import most_probable
from plugdiff.testing import tiny_unet2d


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- tempering
def test_tempered_gaussian_operator_is_the_same_operator_with_less_noise():
    matrix = torch.tensor([[1.0, 0.5], [0.0, 2.0]], dtype=torch.float64)
    w = 3.0
    tempered = MatrixOperator(matrix, noise_std=0.3).tempered(w)
    sharper = MatrixOperator(matrix, noise_std=0.3 / w**0.5)
    x, y = torch.randn(4, 1, 1, 2, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    assert tempered.is_linear_gaussian and tempered.config()["likelihood_weight"] == w
    assert torch.allclose(
        tempered.log_likelihood(x, y), w * MatrixOperator(matrix, noise_std=0.3).log_likelihood(x, y)
    )
    a = tempered.proximal_sample(x, y, 0.2, generator=_gen(1))
    b = sharper.proximal_sample(x, y, 0.2, generator=_gen(1))
    assert torch.allclose(a, b)
    assert MatrixOperator(matrix).tempered(1.0) is not None


def test_tempered_one_bit_scales_log_likelihood_and_gradient_and_keeps_the_distance():
    op = Quantized1Bit(0.4)
    tempered = op.tempered(ONE_BIT_LIKELIHOOD_WEIGHT)
    x = torch.randn(3, 1, 4, 4, dtype=torch.float64)
    y = op.measure(torch.zeros_like(x), generator=_gen())
    grad, value = tempered.log_likelihood_grad(x, y)
    with torch.enable_grad():
        xg = x.clone().requires_grad_(True)
        (auto,) = torch.autograd.grad(tempered.log_likelihood(xg, y).sum(), xg)
    assert torch.allclose(grad, auto) and torch.allclose(value, ONE_BIT_LIKELIHOOD_WEIGHT * op.log_likelihood(x, y))
    assert torch.allclose(tempered.distance(x, y), op.distance(x, y))
    assert tempered.noise_level == pytest.approx(0.4 / ONE_BIT_LIKELIHOOD_WEIGHT**0.5)
    assert tempered.measurement_shape((3, 1, 4, 4)) == (3, 1, 4, 4)
    with pytest.raises(ValueError, match="likelihood_weight"):
        op.tempered(0.0)
    assert op.tempered(1.0) is op


def test_likelihood_weight_in_dpnp_equals_sampling_with_the_sharper_operator():
    eps = ring_prior().eps_model(ALPHAS_CUMPROD)
    matrix = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    y = torch.zeros(3, 1, dtype=torch.float64)
    kwargs = dict(etas=[0.5, 0.2], num_steps=3, image_shape=(3, 1, 1, 2))
    a = dpnp_sample(
        eps, ALPHAS_CUMPROD, MatrixOperator(matrix, 0.2), y, likelihood_weight=4.0, generator=_gen(2), **kwargs
    )
    b = dpnp_sample(eps, ALPHAS_CUMPROD, MatrixOperator(matrix, 0.1), y, generator=_gen(2), **kwargs)
    assert torch.equal(a.samples, b.samples)


def test_authors_likelihood_weights():
    assert GAUSSIAN_LIKELIHOOD_WEIGHT == pytest.approx(16 / 9)
    assert ONE_BIT_LIKELIHOOD_WEIGHT == pytest.approx(3.858, abs=1e-3)
    assert likelihood_weight_for(SuperResolution(4, noise_std=0.2)) == GAUSSIAN_LIKELIHOOD_WEIGHT
    assert likelihood_weight_for(PhaseRetrieval()) == GAUSSIAN_LIKELIHOOD_WEIGHT
    assert likelihood_weight_for(Quantized1Bit()) == ONE_BIT_LIKELIHOOD_WEIGHT


# ----------------------------------------------------------------------------- recipes
def test_recipes_budget_and_overrides():
    authors = dpnp_recipe("authors", SuperResolution(4))
    assert authors.model_evals == 250 and authors.init == "dps" and authors.dds == "ddim"
    posterior = dpnp_recipe("posterior", Inpainting())
    assert posterior.model_evals == 250 and posterior.init is None and posterior.likelihood_weight == 1.0
    assert dpnp_recipe("authors", Inpainting(), init_steps=10, num_dds_steps=2).model_evals == 10 + 16 * 2
    with pytest.raises(ValueError, match="unknown DPnP recipe"):
        dpnp_recipe("fast", Inpainting())


def test_pipeline_default_is_the_authors_recipe_bit_for_bit():
    pipe = DPnPPipeline(unet=tiny_unet2d().eval(), scheduler=__import__("diffusers").DDPMScheduler())
    pipe.set_progress_bar_config(disable=True)
    operator = Inpainting(noise_std=0.1)
    y = operator.measure(torch.rand(1, 3, 16, 16) * 2 - 1, generator=_gen())
    small = dict(init_steps=4, num_dds_steps=1)
    out = pipe(y, operator, num_samples=2, output_type="pt", generator=_gen(5), **small)
    recipe = dpnp_recipe("authors", operator, **small)
    with torch.no_grad():
        direct = dpnp_sample(
            pipe.eps_model,
            pipe.alphas_cumprod,
            operator,
            y.repeat(2, 1, 1, 1),
            **recipe.sampler_kwargs(),
            generator=_gen(5),
        )
    assert torch.equal(out.images, direct.samples.clamp(-1, 1))
    assert out.model_evals == recipe.model_evals == 4 + 16


def test_clip_threshold_clips_only_at_large_eta():
    prior = GaussianMixture([1.0], torch.full((1, 2), 3.0), torch.full((1,), 0.01), event_shape=(1, 1, 2))
    eps = prior.eps_model(ALPHAS_CUMPROD)  # a prior far outside [-1, 1]: clipping shows
    op = MatrixOperator(torch.eye(2, dtype=torch.float64), noise_std=0.5)
    y = torch.full((2, 2), 3.0, dtype=torch.float64)

    def run(clip):
        return dpnp_sample(
            eps,
            ALPHAS_CUMPROD,
            op,
            y,
            etas=[0.4, 0.3],
            num_steps=3,
            clip_denoised=clip,
            image_shape=(2, 1, 1, 2),
            generator=_gen(3),
        ).samples

    assert torch.equal(run(0.2), run(True)) and torch.equal(run(0.5), run(False))
    assert not torch.equal(run(0.35), run(True)) and not torch.equal(run(0.35), run(False))
    with pytest.raises(ValueError, match="clip_denoised"):
        run(-1.0)


# ----------------------------------------------------------------------------- phase retrieval signs
def test_phase_retrieval_channel_signs_are_exact_ambiguities():
    op = PhaseRetrieval(2.0, noise_std=0.1)
    x = torch.rand(2, 3, 6, 6, dtype=torch.float64) * 2 - 1
    flips = op.ambiguities(x)
    assert len(flips) == 7 and all(torch.allclose(op(f), op(x)) for f in flips)
    assert len({tuple(f[:, :, 0, 0].sign().reshape(-1).tolist()) for f in flips}) == 7
    assert SuperResolution(2).ambiguities(x) == []


def test_most_probable_picks_the_signs_the_prior_prefers():
    mean = torch.tensor([0.8, -0.6, 0.5], dtype=torch.float64).reshape(1, 3, 1, 1).expand(1, 3, 2, 2)
    prior = GaussianMixture([1.0], mean.reshape(1, -1), torch.full((1,), 0.01), event_shape=(3, 2, 2))
    eps = prior.eps_model(ALPHAS_CUMPROD)
    op = PhaseRetrieval(2.0)
    truth = mean.expand(4, 3, 2, 2).clone()
    flipped = torch.stack([op.ambiguities(truth[:1])[k][0] for k in (0, 2, 4, 6)])
    assert torch.allclose(most_probable(eps, ALPHAS_CUMPROD, op, flipped, _gen()), truth)
    x = torch.randn(2, 2)
    assert most_probable(eps, ALPHAS_CUMPROD, SuperResolution(2), x) is x


# ----------------------------------------------------------------------------- float32 alpha-bar
@pytest.mark.parametrize("dds", [dds_ddim, dds_ddpm])
def test_dds_takes_float32_alphas_cumprod_near_the_smallest_levels(dds):
    eps = ring_prior().eps_model(ALPHAS_CUMPROD)
    x = torch.randn(2, 1, 1, 2, dtype=torch.float64)
    for eta in (0.02, 0.0199, 0.0101):  # 0.02 divided by zero with float32 alpha-bar
        a = dds(eps, ALPHAS_CUMPROD.float(), x, eta, num_steps=5, generator=_gen(1))
        b = dds(eps, ALPHAS_CUMPROD, x, eta, num_steps=5, generator=_gen(1))
        assert torch.isfinite(a).all() and torch.allclose(a, b)


def test_the_command_line_offers_every_recipe():
    from plugdiff.apps.restore import RECIPES as CLI_RECIPES
    from plugdiff.pipelines.posterior.dpnp_recipes import RECIPES

    assert CLI_RECIPES == RECIPES
