"""Exceptions raised for bad input anywhere in simkit."""

from __future__ import annotations

__all__ = ["ScenarioError", "SimkitError", "TraceError"]


class SimkitError(ValueError):
    """Base class for input errors; the message is one line meant for a person."""


class ScenarioError(SimkitError):
    """A scenario value is invalid.

    The message names the field path, the value and what is allowed, e.g.
    ``autoscaling.min_replicas = 5 > max_replicas = 3``.
    """


class TraceError(SimkitError):
    """A workload trace cannot be used (bad format, gaps, bad values)."""
