"""Inverse problems with an unconditional diffusion prior: posterior sampling.

- ``pipeline_dpnp``: :class:`DPnPPipeline` and :class:`DPSPipeline`, ``pipeline_daps``:
  :class:`DAPSPipeline` (bind a UNet and a scheduler to the algorithms below).
- ``dpnp``: DPnP (Xu & Chi, 2024), alternating a proximal consistency sampler
  (``proximal_sampling``) and a denoising diffusion sampler (``diffusion_denoising``) along an
  annealing schedule (``annealing``).
- ``dpnp_recipes``: ready settings: the authors' warm-start recipe (the pipeline's default) and
  the cold-start exact-posterior mode; ``recipe_names``: the recipes' names, shared with DAPS
  (no torch).
- ``dps``: diffusion posterior sampling (Chung et al., ICLR 2023), the baseline.
- ``daps`` / ``daps_recipes``: DAPS, decoupled annealing posterior sampling (Zhang et al., CVPR
  2025): an ODE estimate of x0 and a likelihood step at each of a decreasing set of noise levels,
  re-noised in between; its recipes (the authors' DAPS-1K, the exact-posterior mode).
- ``posterior_sampling`` / ``sampling_inputs``: what the algorithms share (the epsilon-model
  interface, timestep grids, input checks).
- ``operators``: forward models y = A(x) + noise (inpainting, super-resolution, blur, phase
  retrieval, 1-bit quantisation) with their likelihoods.

Names are imported on first use."""

from ..._lazy import lazy_exports

lazy_exports(
    globals(),
    {
        ".daps": ["daps_sample"],
        ".daps_recipes": ["daps_recipe"],
        ".dpnp": ["dpnp_sample"],
        ".dpnp_recipes": ["dpnp_recipe"],
        ".dps": ["dps_sample"],
        ".pipeline_daps": ["DAPSPipeline"],
        ".pipeline_dpnp": ["DPnPPipeline", "DPSPipeline", "PosteriorPipelineOutput"],
        ".recipe_names": ["RECIPES"],
    },
)
