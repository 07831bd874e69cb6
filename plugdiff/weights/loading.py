"""Loading pipelines offline-first: local files unless downloads are allowed, one clear error, and
none of the libraries' messages a user cannot act on."""

from __future__ import annotations

import logging
import re

UNACTIONABLE = {
    # diffusers' AnimateDiff pipeline module imports transformers' CLIP / SigLIP image processors
    # (for IP-Adapter image prompts, which plugdiff does not use); without torchvision,
    # transformers falls back to the PIL processors and says so on every start.
    "transformers.utils.import_utils": re.compile(r"requires torchvision \(not installed\); falling back to"),
    # AnimateDiffPipeline casts the UNetMotionModel it builds with .to(dtype), and diffusers warns
    # about the modules that must stay float32 even when the list is empty.
    "diffusers.models.modeling_utils": re.compile(r"should be kept in float32: \[\]"),
}
"""Logger name -> the message it must not show (each filter drops that message and nothing else, so
every other warning of transformers and diffusers still shows)."""


class _DropMessage(logging.Filter):
    def __init__(self, pattern: re.Pattern):
        super().__init__()
        self.pattern = pattern

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.search(record.getMessage())


def hide_unactionable_messages() -> None:
    """Install the filters of :data:`UNACTIONABLE` (idempotent; imports neither library). Loading a
    pipeline (:func:`load_pretrained`, :func:`~plugdiff.weights.load_pipeline`) does it, so that the
    Python API is as quiet as the command line."""
    for name, pattern in UNACTIONABLE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMessage) for f in logger.filters):
            logger.addFilter(_DropMessage(pattern))


class ModelNotFoundError(RuntimeError):
    """A model could not be loaded; the message says what to pass or download instead."""


_REMOTE_CODE_KWARGS = ("trust_remote_code", "custom_pipeline", "custom_revision")


def load_pretrained(pipeline_cls, name_or_path: str, *, allow_download: bool = False, **kwargs):
    """``pipeline_cls.from_pretrained(name_or_path)`` from local files only unless
    ``allow_download``; any failure becomes one :class:`ModelNotFoundError` naming the fix.

    Safetensors only (``use_safetensors=True``; pickle weights are refused) and never remote code
    (``trust_remote_code`` / ``custom_pipeline`` raise ``ValueError``)."""
    hide_unactionable_messages()
    asked = [k for k in _REMOTE_CODE_KWARGS if kwargs.get(k)]
    if asked:
        raise ValueError(f"plugdiff never loads remote code: remove {', '.join(asked)}.")
    if kwargs.setdefault("use_safetensors", True) is not True:
        raise ValueError("plugdiff loads safetensors only (never pickle): use_safetensors must be True.")
    if "local_files_only" in kwargs:
        raise ValueError("pass allow_download instead of local_files_only.")
    try:
        return pipeline_cls.from_pretrained(name_or_path, local_files_only=not allow_download, **kwargs)
    except (OSError, ValueError) as err:
        hint = (
            ""
            if allow_download
            else ", or a hub id with downloads allowed (allow_download=True; CLI: --allow-download)"
        )
        raise ModelNotFoundError(
            f"could not load a {pipeline_cls.__name__} from {name_or_path!r}: {err}\n"
            f"Pass a folder saved with save_pretrained{hint}."
        ) from err
