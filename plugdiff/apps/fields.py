"""Typed settings fields shared by a job file and the command line: one declaration gives the
default, the check (with an error that says what is allowed), the help text and the flag.

A check takes the raw value (from YAML / JSON, or the string argparse converted) and returns the
normalised value or raises ``ValueError("must be ..., got ...")``; the caller adds which job and
which field. The number, integer, true / false and choice checks are those of
:mod:`plugdiff.argument_checks`, called without a name.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..argument_checks import check_bool, check_choice, check_int, check_number, quote

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


MAX_TEXT = 10_000
"""The longest string a field takes (prompts, names, paths)."""


MAX_MESSAGE = 400
"""The longest error message (beyond the job and field it names); longer ones are cut."""
MAX_LISTED = 8
_LIST = re.compile(r"\[([^\[\]]*)\]")


def shorten(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` kept short: a bracketed list of more than MAX_LISTED items is summarised by
    its first items and its count (``[64, 65, 66, ... (9936 items)]``), and what is still longer
    than ``limit`` characters is cut, saying how much was left out."""

    def summarise(match: re.Match) -> str:
        items = match.group(1).split(", ")
        if len(items) <= MAX_LISTED:
            return match.group(0)
        return "[" + ", ".join(items[:3]) + f", ... ({len(items)} items)]"

    text = _LIST.sub(summarise, message)
    if len(text) > limit:
        cut = limit - 40
        text = text[:cut] + f" ... ({len(text) - cut} more characters)"
    return text


def got(value) -> str:
    """``"got <value>"`` for an error message, the value quoted short (:func:`quote`)."""
    return f"got {quote(value)}"


def integer(minimum: int, maximum: int) -> Check:
    """An integer in [minimum, maximum]."""

    def check(value):
        return check_int(value, None, minimum=minimum, maximum=maximum)

    return check


def number(minimum: float, maximum: float, *, exclusive: bool = False) -> Check:
    """A finite number in [minimum, maximum] ((minimum, maximum] when ``exclusive``)."""

    def check(value):
        return check_number(value, None, minimum=minimum, maximum=maximum, open_low=exclusive)

    return check


def text(value):
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise ValueError(f"must be a non-empty string of at most {MAX_TEXT} characters, {got(value)}")
    return value


def boolean(value):
    """True or False."""
    return check_bool(value, None)


MAX_MAPPING = 32


def mapping(value):
    if not isinstance(value, dict) or len(value) > MAX_MAPPING:
        raise ValueError(f"must be a mapping of at most {MAX_MAPPING} names to values, {got(value)}")
    return dict(value)


def json_object(text: str) -> dict:
    """argparse type of a flag that takes a mapping: a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not JSON: {err}") from None
    return mapping(value)


def choice(*options: str) -> Check:
    """One of the strings ``options``."""

    def check(value):
        return check_choice(value, None, options)

    return check


SEED_MAX = 2**63 - 1
"""The largest seed (torch.Generator.manual_seed takes 64-bit integers)."""


def optional(inner: Check) -> Check:
    """``inner``, or None."""

    def check(value):
        return None if value is None else inner(value)

    return check


MAX_NAME_BYTES = 200
"""The longest job name, in bytes of the file system's encoding (UTF-8 here): the output's file
name adds its suffix, and the writers' temporary files add up to 20 bytes more, within the
255 bytes most file systems allow per name."""


def name_bytes(value: str) -> int:
    """How many bytes ``value`` takes as a file name (raises ``UnicodeEncodeError`` when it
    cannot be one, e.g. a lone surrogate from JSON)."""
    return len(os.fsencode(value))


def name(value):
    """A job name: used as a file name, so no path separators, no control characters (NUL
    included), no leading dot, and at most MAX_NAME_BYTES bytes."""
    value = text(value)
    rule = (
        f"must be a file name (no '/' or '\\\\', no control characters, no leading '.', at most {MAX_NAME_BYTES} "
        "bytes)"
    )
    if "/" in value or "\\" in value or value.startswith(".") or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{rule}, {got(value)}")
    try:
        size = name_bytes(value)
    except UnicodeEncodeError:
        raise ValueError(f"{rule}; it holds characters no file name can, {got(value)}") from None
    if size > MAX_NAME_BYTES:
        raise ValueError(f"{rule}; it takes {size} bytes, {got(value)}")
    return value
