"""Grade a sampler on exact scores: no trained model, so every bit of error is the sampler's.

python examples/exact_score_sampling.py [--steps 10]
"""

from __future__ import annotations

import argparse

import torch
from diffusers import DDIMScheduler

from plugdiff import AcceleratedDDIMScheduler
from plugdiff.evaluation import image_mixture, solve_probability_flow
from plugdiff.samplers import denoise


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args(argv)

    target = image_mixture((3, 16, 16))  # a Gaussian mixture of 3x16x16 "images" with exact eps
    noise = torch.randn(16, 3, 16, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    config = dict(timestep_spacing="trailing", clip_sample=False)
    alphas_cumprod = DDIMScheduler(**config).alphas_cumprod
    eps_model = target.eps_model(alphas_cumprod)  # exact eps(x_t, t) for this noise schedule
    reference = solve_probability_flow(target.eps, noise, alpha_from=float(alphas_cumprod.double()[-1]))

    errors = {}
    for scheduler in (DDIMScheduler(**config), AcceleratedDDIMScheduler(**config)):
        sample, nfe = denoise(scheduler, eps_model, noise, args.steps)
        errors[type(scheduler).__name__] = float((sample - reference).pow(2).mean().sqrt())
        print(
            f"{type(scheduler).__name__:26s} {nfe} model calls, RMSE vs exact ODE "
            f"{errors[type(scheduler).__name__]:.4f}"
        )

    # The exact posterior of an inverse problem, y = A x0 + 0.1 n (keep every 4th pixel):
    A = torch.eye(target.dim, dtype=torch.float64)[::4]
    x_true = target.sample(1, torch.Generator().manual_seed(1)).flatten()
    posterior = target.posterior(A, A @ x_true, noise_std=0.1)
    rmse = float((posterior.mean() - x_true).pow(2).mean().sqrt())
    print(
        f"posterior mean RMSE to the truth: {rmse:.4f} (prior mean: "
        f"{float((target.mean() - x_true).pow(2).mean().sqrt()):.4f})"
    )
    return {"errors": errors, "posterior_rmse": rmse}


if __name__ == "__main__":
    main()
