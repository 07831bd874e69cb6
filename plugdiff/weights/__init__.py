"""Where models come from: offline-first loading with clear errors, small text models built
from configs; later the registry of known checkpoints and the bundled ShapesWorld models."""

from .loading import ModelNotFoundError, load_pretrained

__all__ = ["ModelNotFoundError", "load_pretrained"]
