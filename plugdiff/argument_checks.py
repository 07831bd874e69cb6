"""Checks of scalar arguments, for the whole package: samplers, attention processors, pipelines,
forward operators, the command line's job fields and the web UI. No torch: the command line
validates job files with them before any model loads.

Every check has one signature, ``check_<kind>(value, name, *, constraints)``, and returns the
value normalised (``check_int`` an ``int``, ``check_number`` a ``float``) or raises
:class:`ArgumentError` naming the argument and saying what is allowed::

    check_int(0, "num_frames", minimum=1)   # ArgumentError: `num_frames` must be an integer >= 1, got 0.

``name=None`` leaves the name out of the message (``must be an integer >= 1, got 0``), for a
caller that names the field itself (a job field: ``job 2, field 'frames': must be ...``).

A value of the wrong kind (a string for an integer, a bool for a number) raises
:class:`ArgumentTypeError`, which is both a ``ValueError`` and a ``TypeError``: callers that catch
either see it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

MAX_QUOTED = 80
"""At most this many characters of a bad value are quoted in an error message."""


def quote(value) -> str:
    """``repr(value)``, cut to :data:`MAX_QUOTED` characters (a huge value must not make a huge
    message); containers are summarised before ``repr`` sees them."""
    if isinstance(value, (dict, list, tuple, set)) and len(value) > 8:
        return f"a {type(value).__name__} of {len(value)} items"
    try:
        text = repr(value)
    except RecursionError:
        return f"a deeply nested {type(value).__name__}"
    return text if len(text) <= MAX_QUOTED else text[: MAX_QUOTED - 5] + "...)" + text[-1]


class ArgumentError(ValueError):
    """``value`` is not allowed for the argument ``name``; ``allowed`` says what is (the text after
    "must be"). The message is ``"`name` must be <allowed>, got <value>."``, or
    ``"must be <allowed>, got <value>"`` when ``name`` is None."""

    def __init__(self, value, name: str | None, allowed: str):
        self.value, self.name, self.allowed = value, name, allowed
        text = f"must be {allowed}, got {quote(value)}"
        super().__init__(text if name is None else f"`{name}` {text}.")


class ArgumentTypeError(ArgumentError, TypeError):
    """An :class:`ArgumentError` for a value of the wrong kind; also a ``TypeError``."""


def is_int(value) -> bool:
    """An integer (int or numpy integer), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    """A finite real number (int, float or numpy scalar), not a bool or a string."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _int_rule(minimum, maximum, allowed, odd: bool, whole: bool) -> str:
    if allowed is not None:
        return " or ".join(str(a) for a in allowed)
    noun = ("an odd " if odd else "a " if whole else "an ") + ("whole number" if whole else "integer")
    if minimum is not None and maximum is not None:
        return f"{noun} from {minimum} to {maximum}"
    if minimum is not None:
        return f"{noun} >= {minimum}"
    return f"{noun} <= {maximum}" if maximum is not None else noun


def check_int(
    value,
    name: str | None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    allowed: Iterable[int] | None = None,
    odd: bool = False,
    optional: bool = False,
    whole: bool = False,
) -> int | None:
    """``value`` as an int: an integer (not a bool) in [minimum, maximum], odd when ``odd``, one
    of ``allowed`` when given.

    Args:
        optional: None is allowed too (and returned).
        whole: a float with no fractional part (``10.0``) is taken too, as diffusers'
            ``DDIMScheduler`` takes it for a step count and as the web UI's number boxes give it;
            the message then says "a whole number".
    """
    if optional and value is None:
        return None
    allowed = None if allowed is None else tuple(allowed)
    rule = _int_rule(minimum, maximum, allowed, odd, whole)
    rule = f"None or {rule}" if optional else rule
    if whole and isinstance(value, float) and value.is_integer():
        number = int(value)
    elif is_int(value):
        number = int(value)
    else:
        raise ArgumentTypeError(value, name, rule)
    ok = (
        (minimum is None or number >= minimum)
        and (maximum is None or number <= maximum)
        and (not odd or number % 2 == 1)
        and (allowed is None or number in allowed)
    )
    if not ok:
        raise ArgumentError(value, name, rule)
    return number


def _number_rule(minimum, maximum, open_low: bool, open_high: bool) -> str:
    bounds = []
    if minimum is not None:
        bounds.append(f"{'>' if open_low else '>='} {minimum}")
    if maximum is not None:
        bounds.append(f"{'<' if open_high else '<='} {maximum}")
    return f"a finite number {' and '.join(bounds)}" if bounds else "a finite number"


def check_number(
    value,
    name: str | None,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    open_low: bool = False,
    open_high: bool = False,
    optional: bool = False,
) -> float | None:
    """``value`` as a float: a finite real number (not a bool) in [minimum, maximum], either end
    left out when None and open when ``open_low`` / ``open_high``; None too when ``optional``."""
    if optional and value is None:
        return None
    rule = _number_rule(minimum, maximum, open_low, open_high)
    rule = f"None or {rule}" if optional else rule
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ArgumentTypeError(value, name, rule)
    number = float(value)
    ok = (
        math.isfinite(number)
        and (minimum is None or (number > minimum if open_low else number >= minimum))
        and (maximum is None or (number < maximum if open_high else number <= maximum))
    )
    if not ok:
        raise ArgumentError(value, name, rule)
    return number


def check_positive(value, name: str | None) -> float:
    """``value`` as a float: a finite real number > 0 (``check_number(value, name, minimum=0,
    open_low=True)``)."""
    return check_number(value, name, minimum=0, open_low=True)


def check_bool(value, name: str | None) -> bool:
    """``value`` if it is True or False (not 0 / 1, not a string)."""
    if not isinstance(value, bool):
        raise ArgumentTypeError(value, name, "True or False")
    return value


def check_choice(value, name: str | None, choices: Iterable[str]) -> str:
    """``value`` if it is one of the strings ``choices``."""
    choices = tuple(choices)
    rule = f"one of {', '.join(choices)}"
    if not isinstance(value, str):
        raise ArgumentTypeError(value, name, rule)
    if value not in choices:
        raise ArgumentError(value, name, rule)
    return value
