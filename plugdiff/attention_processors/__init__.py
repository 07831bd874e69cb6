"""diffusers attention processors: TiARA temporal reweighting, FreeLong's SpectralBlend temporal
attention and PromptBlend cross-attention gating, each with ``enable_*`` / ``disable_*`` functions
that install it on a video UNet by one mechanism (:mod:`.install`). Must not import
plugdiff.pipelines.

Names are imported on first use (the settings and their checks need neither torch nor diffusers)."""

from .._lazy import lazy_exports

lazy_exports(
    globals(),
    {
        ".install": ["temporal_processor_names"],
        ".promptblend": [
            "PromptBlendAttnProcessor",
            "PromptBlendController",
            "cross_attention_processor_names",
            "disable_promptblend",
            "enable_promptblend",
        ],
        ".promptblend_settings": ["PromptBlendSettings"],
        ".spectral_blend": [
            "SpectralBlendAttnProcessor",
            "SpectralBlendController",
            "blend_branches",
            "disable_spectral_blend",
            "enable_spectral_blend",
            "local_windows",
            "lowpass_filter",
            "spectral_blend_controller",
        ],
        ".spectral_blend_settings": ["SpectralBlendSettings"],
        ".steps": ["check_step_range", "in_step_range"],
        ".tiara": [
            "TiaraAttnProcessor",
            "TiaraController",
            "circulant_window",
            "disable_tiara",
            "enable_tiara",
            "tiara_attention",
            "tiara_controller",
            "tiara_rho",
        ],
        ".tiara_settings": ["TiaraSettings", "default_band"],
    },
)
