"""Parsing of durations written by people ("7D", "1s", "15min", "90")."""

from __future__ import annotations

import re

from simkit.errors import SimkitError

__all__ = ["format_duration", "parse_duration"]

_UNITS_S = {
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "min": 60.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_duration(value: str | float | int, *, name: str = "duration") -> float:
    """Convert a duration to seconds.

    Parameters
    ----------
    value : str or float or int
        A number of seconds, or a string such as ``"7D"``, ``"1s"``, ``"15min"``,
        ``"2h"``, ``"500ms"`` (units: ms, s, min/m, h, D/d, W/w).
    name : str
        Name of the argument, used in the error message.

    Returns
    -------
    float
        Duration [s], strictly positive.

    Raises
    ------
    SimkitError
        If the value is not a positive duration.
    """
    if isinstance(value, bool):
        raise SimkitError(f"{name} = {value!r} is not a duration (e.g. '7D', '1s', '15min')")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _PATTERN.match(str(value))
        unit = match.group(2).lower() if match else ""
        if match is None or unit not in {*_UNITS_S, ""}:
            raise SimkitError(
                f"{name} = {value!r} is not a duration; use a number and one of "
                "ms, s, min, h, D, W (e.g. '7D', '1s', '15min')"
            )
        seconds = float(match.group(1)) * _UNITS_S.get(unit, 1.0)
    if not (seconds > 0 and seconds < 10 * 365 * 86400):
        raise SimkitError(f"{name} = {value!r} must be > 0 s and < 10 years")
    return seconds


def format_duration(seconds: float) -> str:
    """Short human form of a duration in seconds (``604800`` -> ``'7D'``)."""
    for unit, size in (("W", 604800.0), ("D", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
