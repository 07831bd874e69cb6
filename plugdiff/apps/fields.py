"""Typed settings fields shared by a job file and the command line: one declaration gives the
default, the check (with an error that says what is allowed), the help text and the flag.

A check takes the raw value (from YAML / JSON, or the string argparse converted) and returns the
normalised value or raises ``ValueError("must be ..., got ...")``; the caller adds which job and
which field.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable

Check = Callable[[Any], Any]


@dataclass(frozen=True)
class Field:
    """One setting.

    Attributes:
        name: the key in a job file; the flag is ``--`` + name with ``-`` for ``_``.
        default: the value when neither the job nor the defaults give one (``REQUIRED``: must be given).
        check: validates and normalises a value (see the module docstring).
        help: one line for ``--help`` and the docs.
        flag_type: how argparse converts the flag's text: ``int``, ``float``, ``str``, ``bool``
            (a ``--name / --no-name`` switch) or None (no flag: job files only).
        choices: the allowed values, shown in ``--help``.
    """

    name: str
    default: Any
    check: Check
    help: str
    flag_type: type | None = str
    choices: tuple | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


REQUIRED = object()
"""Default of a field that every job must give."""


def _got(value) -> str:
    return f"got {value!r}"


def integer(minimum: int) -> Check:
    def check(value):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
            raise ValueError(f"must be an integer >= {minimum}, {_got(value)}")
        return int(value)

    return check


def number(minimum: float, *, exclusive: bool = False) -> Check:
    def check(value):
        ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
        if not ok or value < minimum or (exclusive and value == minimum):
            raise ValueError(f"must be a number {'>' if exclusive else '>='} {minimum}, {_got(value)}")
        return float(value)

    return check


def text(value):
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, {_got(value)}")
    return value


def boolean(value):
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, {_got(value)}")
    return value


def mapping(value):
    if not isinstance(value, dict):
        raise ValueError(f"must be a mapping of names to values, {_got(value)}")
    return dict(value)


def json_object(text: str) -> dict:
    """argparse type of a flag that takes a mapping: a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not JSON: {err}") from None
    return mapping(value)


def choice(*options: str) -> Check:
    def check(value):
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}; {_got(value)}")
        return value

    return check


def optional(inner: Check) -> Check:
    """``inner``, or None."""

    def check(value):
        return None if value is None else inner(value)

    return check


def name(value):
    """A job name: used as a file name, so no path separators and no leading dot."""
    value = text(value)
    if "/" in value or "\\" in value or value.startswith(".") or len(value) > 200:
        raise ValueError(f"must be a file name (no '/' or '\\\\', no leading '.', at most 200 characters), {_got(value)}")
    return value
