"""diffusers attention processors (TiARA temporal reweighting, PromptBlend cross-attention
gating) and the helpers that install them on a UNet. Must not import plugdiff.pipelines."""
