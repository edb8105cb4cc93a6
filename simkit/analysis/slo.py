"""SLO accounting: good minutes, error budgets, burn rates and burn-rate alerts.

Two service level indicators (SLIs) are supported:

``"requests"``
    request-based availability: bad events are failed requests, the objective
    is ``scenario.slo.availability`` of requests succeeding;
``"minutes"``
    time slices: a minute is bad when the p99 latency of its requests (pooled,
    never the largest or mean of per-step p99s) exceeds ``slo.latency_p99_s``
    or its error ratio exceeds ``1 - slo.availability`` (the definition
    behind the ``slo_minutes_violated`` KPI); the objective is the same
    ``slo.availability`` fraction of good minutes.

The error budget over the SLO window (``slo.window_days``, 28 days by default)
is ``(1 - objective)`` times the events in the window.  The burn rate over a
window is the bad fraction in that window divided by ``1 - objective``: burning
at 1 spends exactly the budget in one SLO window.

Burn-rate *alerts* are alert rules like any other (``monitoring.rules`` with
``window_s`` and ``short_window_s``; the profiles carry the multi-window,
multi-burn-rate set of the Google SRE workbook, "Alerting on SLOs": burn rates
13.44, 5.6, 2.8 and 0.93 for a 28-day window).  They are evaluated by
:mod:`simkit.detection` and counted by :func:`simkit.analysis.kpis`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simkit.errors import SimkitError
from simkit.result import SimResult
from simkit.units import parse_duration
from simkit.windows import window_latency_quantiles

__all__ = ["SLIS", "burn_rate", "error_budget", "minute_series"]

SLIS = ("requests", "minutes")
_MINUTE_S = 60.0


def minute_series(result: SimResult) -> dict[str, np.ndarray]:
    """Per-minute requests, errors, p99 and bad-minute flags, each ``[R, M]``.

    The one definition of an SLO minute (``slo_minutes_violated`` and every
    SLI below use it).

    Returns
    -------
    dict
        ``requests`` and ``errors`` [count per minute], ``latency_p99_s`` (the p99 of
        the requests served in the minute: the pooled distribution's quantile,
        :func:`simkit.windows.window_latency_quantiles`) [s], ``bad`` (bool: the
        minute breaks the SLO).
    """
    per_minute = max(round(_MINUTE_S / result.step_s), 1)
    k = result.steps_per_period
    edges = np.arange(0, result.n_steps, per_minute)
    p99 = window_latency_quantiles(result, edges)[:, :, 2]
    if per_minute % k == 0:  # minutes are whole periods: no step arrays needed
        req = np.add.reduceat(result.arrivals_period, edges // k, axis=1, dtype=np.float64)
        err = np.add.reduceat(np.asarray(result.errors_period, np.float64), edges // k, axis=1)
    else:
        req = np.add.reduceat(result.arrivals, edges, axis=1, dtype=np.float64)
        err = np.add.reduceat(result.errors, edges, axis=1, dtype=np.float64)
    slo = result.scenario.slo
    ratio = np.divide(err, req, out=np.zeros_like(err), where=req > 0)
    bad = (p99 > slo.latency_p99_s) | (ratio > 1.0 - slo.availability)
    return {"requests": req, "errors": err, "latency_p99_s": p99, "bad": bad}


def _events(result: SimResult, sli: str) -> tuple[np.ndarray, np.ndarray]:
    """Bad and total events per minute for an SLI, ``[R, M]`` each."""
    if sli not in SLIS:
        raise SimkitError(f"sli = {sli!r} is not an SLI; allowed: {', '.join(SLIS)}")
    m = minute_series(result)
    if sli == "requests":
        return m["errors"], m["requests"]
    return m["bad"].astype(np.float64), np.ones_like(m["requests"])


def _rolling_sum(x: np.ndarray, window: int) -> np.ndarray:
    """Sum over the last ``window`` minutes (fewer at the start), along axis 1."""
    c = np.zeros((x.shape[0], x.shape[1] + 1))
    np.cumsum(x, axis=1, out=c[:, 1:])
    lag = np.maximum(np.arange(1, x.shape[1] + 1) - window, 0)
    return c[:, 1:] - c[:, lag]


def _window_minutes(window: str | float, name: str) -> int:
    minutes = parse_duration(window, name=name) / _MINUTE_S
    if minutes < 1 or abs(minutes - round(minutes)) > 1e-9:
        raise SimkitError(f"{name} = {window!r} must be a whole number of minutes >= 1")
    return round(minutes)


def _burn(bad: np.ndarray, total: np.ndarray, window: int, budget_ratio: float) -> np.ndarray:
    b, t = _rolling_sum(bad, window), _rolling_sum(total, window)
    return np.divide(b, t, out=np.zeros_like(b), where=t > 0) / budget_ratio


def _minute_index(result: SimResult, n: int) -> pd.DatetimeIndex:
    return pd.date_range(result.start, periods=n, freq="1min", name="time")


def burn_rate(result: SimResult, window: str | float = "1h", sli: str = "requests") -> pd.DataFrame:
    """Burn rate over a trailing window, every minute, per replication.

    Parameters
    ----------
    result : SimResult
        A simulation result.
    window : str or float
        Trailing window, e.g. ``"1h"`` (shorter at the start of the run).
    sli : {"requests", "minutes"}
        The SLI (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        Index: end of each minute (UTC); one column per replication; values are
        bad fraction / (1 - objective) [-].
    """
    bad, total = _events(result, sli)
    burn = _burn(
        bad, total, _window_minutes(window, "window"), 1.0 - result.scenario.slo.availability
    )
    return pd.DataFrame(burn.T, index=_minute_index(result, burn.shape[1]))


def error_budget(
    result: SimResult, sli: str = "requests", window_days: float | None = None
) -> pd.DataFrame:
    """Share of the rolling-window error budget left, every minute, per replication.

    Over a full window the budget is ``(1 - objective)`` times the events in it.
    Before a full window has been simulated, the events seen so far are
    extrapolated to the whole window at the same pace, so the value reads "share
    of this window's budget left" from the first minute on.

    Parameters
    ----------
    result : SimResult
        A simulation result.
    sli : {"requests", "minutes"}
        The SLI (see the module docstring).
    window_days : float, optional
        SLO window [days]; default ``scenario.slo.window_days``.

    Returns
    -------
    pandas.DataFrame
        Index: end of each minute (UTC); one column per replication; 1 is an
        untouched budget, 0 an exhausted one, below 0 an overspent one [-].
    """
    days = result.scenario.slo.window_days if window_days is None else window_days
    if not isinstance(days, int | float) or days <= 0:
        raise SimkitError(f"window_days = {days!r} must be a number of days > 0")
    window = max(round(days * 1440), 1)
    bad, total = _events(result, sli)
    b, t = _rolling_sum(bad, window), _rolling_sum(total, window)
    seen = np.minimum(np.arange(1, bad.shape[1] + 1), window)
    full_total = t * (window / seen)
    budget = (1.0 - result.scenario.slo.availability) * full_total
    left = 1.0 - np.divide(b, budget, out=np.zeros_like(b), where=budget > 0)
    return pd.DataFrame(left.T, index=_minute_index(result, left.shape[1]))
