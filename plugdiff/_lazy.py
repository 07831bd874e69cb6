"""Lazy package attributes (PEP 562): a package declares which submodule defines each public
name, and the submodule is imported on first use. ``import plugdiff`` and the command line's
``--help`` / ``render --check`` / ``models`` then answer without loading torch and diffusers."""

from __future__ import annotations

import importlib


def lazy_exports(namespace: dict, exports: dict[str, list[str]]) -> None:
    """Give the package whose globals are ``namespace`` a ``__getattr__``, ``__dir__`` and
    ``__all__`` (added to any already there) for ``exports`` (relative submodule name -> the
    public names it defines).

    Example (in a package's ``__init__.py``)::

        lazy_exports(globals(), {".tiara": ["TiaraSettings", "tiara_rho"]})
    """
    package = namespace["__name__"]
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name], package), name)
        namespace[name] = value  # later look-ups are plain module attributes
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(where))

    namespace.update(__getattr__=__getattr__, __dir__=__dir__, __all__=sorted([*namespace.get("__all__", []), *where]))
