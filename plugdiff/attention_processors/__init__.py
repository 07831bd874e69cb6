"""diffusers attention processors: TiARA temporal reweighting and PromptBlend cross-attention
gating, with helpers that install them on a UNet. Must not import plugdiff.pipelines."""

from .install import (
    TiaraController,
    disable_tiara,
    enable_tiara,
    temporal_processor_names,
    tiara_controller,
)
from .promptblend import (
    PromptBlendAttnProcessor,
    PromptBlendController,
    cross_attention_processor_names,
    disable_promptblend,
    enable_promptblend,
)
from .steps import check_step_range, in_step_range
from .tiara import (
    TiaraAttnProcessor,
    TiaraSettings,
    circulant_window,
    default_band,
    tiara_attention,
    tiara_rho,
)

__all__ = [
    "PromptBlendAttnProcessor",
    "PromptBlendController",
    "TiaraAttnProcessor",
    "TiaraController",
    "TiaraSettings",
    "check_step_range",
    "circulant_window",
    "cross_attention_processor_names",
    "default_band",
    "disable_promptblend",
    "disable_tiara",
    "enable_promptblend",
    "enable_tiara",
    "in_step_range",
    "temporal_processor_names",
    "tiara_attention",
    "tiara_controller",
    "tiara_rho",
]
