"""DiffusionPipeline subclasses (long video, DPnP / DPS) and forward operators for inverse
problems; thin wrappers that bind models to the algorithms."""
