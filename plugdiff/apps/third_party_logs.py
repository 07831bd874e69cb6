"""Keep the libraries' messages that a plugdiff user cannot act on out of the command line and
the web UI. Each filter drops one known message and nothing else, so every other warning of
transformers and diffusers still shows."""

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
"""Logger name -> the message it must not show."""


class _DropMessage(logging.Filter):
    def __init__(self, pattern: re.Pattern):
        super().__init__()
        self.pattern = pattern

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.search(record.getMessage())


def hide_unactionable_messages() -> None:
    """Install the filters of :data:`UNACTIONABLE` (idempotent; imports neither library)."""
    for name, pattern in UNACTIONABLE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMessage) for f in logger.filters):
            logger.addFilter(_DropMessage(pattern))
