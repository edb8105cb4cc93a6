"""What the mechanisms around the app tier do to it, as arrays the engine applies.

Deployments, the database, regions and chaos experiments are pure models that
each return an :class:`Effects`; the engine adds them up (:func:`combine`) and
applies the total: fewer Ready instances, extra billed instances, latency added
to every request, a fraction of requests failing, and windows in which requests
fail at step resolution.  Incidents are carried along for the KPIs.

All per-period arrays are ``[R, P]`` (replication, control period).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from simkit.errors import SimkitError
from simkit.scenario import Scenario

__all__ = ["Effects", "FailureWindow", "Incident", "check_model_inputs", "combine", "period_span"]


@dataclass(frozen=True)
class FailureWindow:
    """Requests offered in ``[start_s, end_s)`` fail with probability ``fraction``.

    Resolved at the simulation step: a step partly inside the window fails the
    covered share of its requests.

    Attributes
    ----------
    replication : int
        Replication index, or -1 for every replication (chaos schedules).
    start_s, end_s : float
        Window since the simulation start [s].
    fraction : float
        Share of requests failing inside the window [-], in (0, 1].
    cause : str
        Error cause for the KPIs (e.g. ``"deploy"``, ``"region"``).
    """

    replication: int
    start_s: float
    end_s: float
    fraction: float
    cause: str


@dataclass(frozen=True)
class Incident:
    """Something that broke, for detection/recovery/data-loss KPIs.

    Attributes
    ----------
    replication : int
        Replication index.
    kind : str
        One of :data:`simkit.scenario.INCIDENT_KINDS`.
    start_s, detected_s, recovered_s : float
        When it began, when its detection rule first fired (``inf``: never, see
        :mod:`simkit.detection`), when service was restored [s].
    data_loss_window_s : float
        Writes in this window before the failure are lost (RPO) [s]; 0 if none.
    lost_writes : float
        Expected writes lost [count].
    """

    replication: int
    kind: str
    start_s: float
    detected_s: float
    recovered_s: float
    data_loss_window_s: float = 0.0
    lost_writes: float = 0.0


@dataclass(frozen=True)
class Effects:
    """Per-period effects on the app tier, plus step-level failure windows and incidents.

    Attributes
    ----------
    instances_down : numpy.ndarray or None
        Instances not serving in each period besides crashes [count], int ``[R, P]``.
    extra_instances : numpy.ndarray or None
        Instances billed besides the autoscaler's (e.g. surge pods) [count], ``[R, P]``.
    latency_s : numpy.ndarray or None
        Latency added to every request [s], ``[R, P]``.
    error_fraction : dict of str to numpy.ndarray
        Cause to share of offered requests failing [-], ``[R, P]``.
    windows : tuple of FailureWindow
        Step-resolution failure windows.
    incidents : tuple of Incident
        Incidents for the KPIs.
    """

    instances_down: np.ndarray | None = None
    extra_instances: np.ndarray | None = None
    latency_s: np.ndarray | None = None
    error_fraction: dict[str, np.ndarray] = field(default_factory=dict)
    windows: tuple[FailureWindow, ...] = ()
    incidents: tuple[Incident, ...] = ()


def _add(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def combine(parts: Iterable[Effects]) -> Effects:
    """Sum several :class:`Effects` (error fractions of the same cause add up)."""
    total = Effects()
    for part in parts:
        fractions = dict(total.error_fraction)
        for cause, frac in part.error_fraction.items():
            fractions[cause] = _add(fractions.get(cause), frac)
        total = Effects(
            instances_down=_add(total.instances_down, part.instances_down),
            extra_instances=_add(total.extra_instances, part.extra_instances),
            latency_s=_add(total.latency_s, part.latency_s),
            error_fraction=fractions,
            windows=total.windows + part.windows,
            incidents=total.incidents + part.incidents,
        )
    return total


def check_model_inputs(
    scenario: object, rate_rps: object, period_s: object
) -> tuple[np.ndarray, float]:
    """Validate the inputs every mechanism model takes; one-line errors.

    Returns
    -------
    (numpy.ndarray, float)
        The offered rate as float64 ``[R, P]`` [1/s] and the period [s].
    """
    if not isinstance(scenario, Scenario):
        raise SimkitError(f"scenario must be a simkit.Scenario, got {type(scenario).__name__}")
    try:
        rate = np.asarray(rate_rps, dtype=np.float64)
    except (TypeError, ValueError):
        raise SimkitError("rate_rps must be a numeric array [replications, periods]") from None
    if rate.ndim != 2 or rate.shape[1] == 0:
        raise SimkitError(
            f"rate_rps must be a 2-D array [replications, periods], got shape {rate.shape}"
        )
    if not np.all(np.isfinite(rate)) or np.any(rate < 0):
        raise SimkitError("rate_rps must be finite and >= 0 [1/s]")
    if isinstance(period_s, bool) or not isinstance(period_s, int | float | np.number):
        raise SimkitError(f"period_s = {period_s!r} must be a number of seconds > 0")
    if not (math.isfinite(float(period_s)) and period_s > 0):
        raise SimkitError(f"period_s = {period_s!r} must be a finite number of seconds > 0")
    return rate, float(period_s)


def period_span(start_s: float, end_s: float, period_s: float, n_periods: int) -> slice:
    """Control periods that overlap ``[start_s, end_s)``, clipped to the run."""
    first = max(math.floor(start_s / period_s), 0)
    last = min(math.ceil(end_s / period_s), n_periods)
    return slice(first, max(first, last))
