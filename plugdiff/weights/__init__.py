"""Where models come from.

- :func:`load_pipeline` turns a registry name, a local ``save_pretrained`` folder or a hub id into
  a pipeline: offline first (local files / the Hugging Face cache unless ``allow_download=True``),
  safetensors only, never remote code, and one clear :class:`ModelNotFoundError` that says what to
  download or train and where to put it when a model is missing.
- :data:`REGISTRY` (name -> :class:`ModelSpec`) lists the models known by name: the bundled
  ShapesWorld models ``shapesworld-t2v`` (text to video, TiaraAnimateDiffPipeline) and
  ``shapesworld-ddpm`` (image prior, DDPMPipeline / DPnPPipeline / DPSPipeline), kept in folders
  beside this file and made by ``python -m plugdiff.shapesworld.train vae|t2v|ddpm --out <folder>``, and
  hub checkpoints for users who have them (``animatediff-sd15``, ``ddpm-celebahq-256``).
- :func:`sampling_defaults`: the scheduler, steps, guidance and transition a model was
  benchmarked with, stored in its folder (``sampling_defaults.json``); what the CLI and the web UI
  use for it by default.
- :func:`load_pretrained` is the single offline-first ``from_pretrained`` call underneath;
  :mod:`.text_models` builds small CLIP text models from configs.

Example::

    from plugdiff.weights import load_pipeline
    pipe = load_pipeline("shapesworld-t2v")                  # bundled, no download
    pipe = load_pipeline("./my-model")                       # class from its model_index.json
    pipe = load_pipeline("google/ddpm-cat-256", allow_download=True)
"""

from .loading import ModelNotFoundError, load_pretrained
from .registry import REGISTRY, ModelSpec, is_available, load_pipeline
from .sampling_defaults import sampling_defaults

__all__ = [
    "REGISTRY",
    "ModelNotFoundError",
    "ModelSpec",
    "is_available",
    "load_pipeline",
    "load_pretrained",
    "sampling_defaults",
]
