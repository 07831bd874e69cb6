"""Loading pipelines offline-first: local files unless downloads are allowed, one clear error."""

from __future__ import annotations


class ModelNotFoundError(RuntimeError):
    """A model could not be loaded; the message says what to pass or download instead."""


_REMOTE_CODE_KWARGS = ("trust_remote_code", "custom_pipeline", "custom_revision")


def load_pretrained(pipeline_cls, name_or_path: str, *, allow_download: bool = False, **kwargs):
    """``pipeline_cls.from_pretrained(name_or_path)`` from local files only unless
    ``allow_download``; any failure becomes one :class:`ModelNotFoundError` naming the fix.

    Safetensors only (``use_safetensors=True``; pickle weights are refused) and never remote code
    (``trust_remote_code`` / ``custom_pipeline`` raise ``ValueError``)."""
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
        hint = "" if allow_download else ", or a hub id with downloads allowed (allow_download=True; CLI: --allow-download)"
        raise ModelNotFoundError(
            f"could not load a {pipeline_cls.__name__} from {name_or_path!r}: {err}\n"
            f"Pass a folder saved with save_pretrained{hint}."
        ) from err
