"""Keep the libraries' messages that a plugdiff user cannot act on out of the command line and
the web UI: the filters live where pipelines are loaded (:mod:`plugdiff.weights.loading`), so that the
Python API is as quiet; the apps install them at start, before anything loads."""

from __future__ import annotations

from ..weights.loading import UNACTIONABLE, hide_unactionable_messages

__all__ = ["UNACTIONABLE", "hide_unactionable_messages"]
