"""diffusers attention processors: TiARA temporal reweighting (and, later, PromptBlend
cross-attention gating), with helpers that install them on a UNet. Must not import
plugdiff.pipelines."""

from .install import (
    TiaraController,
    disable_tiara,
    enable_tiara,
    temporal_processor_names,
    tiara_controller,
)
from .tiara import (
    TiaraAttnProcessor,
    TiaraSettings,
    circulant_window,
    default_band,
    tiara_attention,
    tiara_rho,
)

__all__ = [
    "TiaraAttnProcessor",
    "TiaraController",
    "TiaraSettings",
    "circulant_window",
    "default_band",
    "disable_tiara",
    "enable_tiara",
    "temporal_processor_names",
    "tiara_attention",
    "tiara_controller",
    "tiara_rho",
]
