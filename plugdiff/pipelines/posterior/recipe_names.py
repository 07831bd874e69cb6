"""The names of the posterior samplers' ready settings, the same for DPnP
(:func:`~plugdiff.pipelines.posterior.dpnp_recipes.dpnp_recipe`) and DAPS
(:func:`~plugdiff.pipelines.posterior.daps_recipes.daps_recipe`). No torch: the command line offers
them before any model loads."""

RECIPES = ("authors", "posterior")
"""``"authors"``: the authors' settings; ``"posterior"``: the exact-posterior mode."""
