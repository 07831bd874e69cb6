"""Where models come from: the registry of known checkpoints, local / hub loading with clear
offline errors, the bundled ShapesWorld models and the scripts that train them."""
