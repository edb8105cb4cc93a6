"""SLO accounting: good minutes, error budgets, burn rates and burn-rate alerts.

Two service level indicators (SLIs) are supported:

``"requests"``
    request-based availability: bad events are failed requests, the objective
    is ``scenario.slo.availability`` of requests succeeding;
``"minutes"``
    time slices: a minute is bad when its p99 latency (the largest step p99 in
    the minute) exceeds ``slo.latency_p99_s`` or its error ratio exceeds
    ``1 - slo.availability`` (the definition behind the ``slo_minutes_violated``
    KPI); the objective is the same ``slo.availability`` fraction of good minutes.

The error budget over the SLO window (``slo.window_days``, 28 days by default)
is ``(1 - objective)`` times the events in the window.  The burn rate over a
window is the bad fraction in that window divided by ``1 - objective``: burning
at 1 spends exactly the budget in one SLO window.

Alerts follow the multi-window, multi-burn-rate recipe of the Google SRE
workbook ("Alerting on SLOs"), as Sloth and Pyrra generate it: a rule fires
while the burn rate over a long *and* a short window both exceed
``budget_fraction * slo_window / long_window`` (14.4, 6, 3 and 1 for a 30-day
window; 13.44, 5.6, 2.8 and 0.93 for 28 days).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simkit.errors import SimkitError
from simkit.result import SimResult
from simkit.units import parse_duration

__all__ = [
    "DEFAULT_ALERTS",
    "SLIS",
    "AlertRule",
    "alert_counts",
    "burn_rate",
    "error_budget",
    "minute_series",
    "slo_kpis",
]

SLIS = ("requests", "minutes")
_MINUTE_S = 60.0


@dataclass(frozen=True)
class AlertRule:
    """One multi-window burn-rate alert rule.

    Attributes
    ----------
    severity : str
        ``"page"`` or ``"ticket"``.
    long_window_s, short_window_s : float
        The two windows whose burn rates must both exceed the threshold [s].
    budget_fraction : float
        Share of the window's error budget spent within ``long_window_s`` that
        the rule alerts on [-].
    """

    severity: str
    long_window_s: float
    short_window_s: float
    budget_fraction: float

    def threshold(self, slo_window_s: float) -> float:
        """Burn-rate threshold for an SLO window of ``slo_window_s`` seconds [-]."""
        return self.budget_fraction * slo_window_s / self.long_window_s


#: The SRE workbook's recommended pairs: page on 2 % of the budget in 1 h (5 min short
#: window) or 5 % in 6 h (30 min), ticket on 10 % in 1 day (2 h) or 10 % in 3 days (6 h).
DEFAULT_ALERTS = (
    AlertRule("page", 3600.0, 300.0, 0.02),
    AlertRule("page", 6 * 3600.0, 1800.0, 0.05),
    AlertRule("ticket", 86400.0, 7200.0, 0.10),
    AlertRule("ticket", 3 * 86400.0, 6 * 3600.0, 0.10),
)


def minute_series(result: SimResult) -> dict[str, np.ndarray]:
    """Per-minute requests, errors, p99 and bad-minute flags, each ``[R, M]``.

    Returns
    -------
    dict
        ``requests`` and ``errors`` [count per minute], ``latency_p99_s`` (largest
        step p99 in the minute) [s], ``bad`` (bool: the minute breaks the SLO).
    """
    per_minute = max(round(_MINUTE_S / result.step_s), 1)
    edges = np.arange(0, result.n_steps, per_minute)
    p99 = np.maximum.reduceat(result.latency_p99_s, edges, axis=1)
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


def _firing(result: SimResult, sli: str, rules: tuple[AlertRule, ...]) -> dict[str, np.ndarray]:
    """Minute masks ``[R, M]`` of firing alerts, one per severity (rules OR-ed)."""
    bad, total = _events(result, sli)
    slo = result.scenario.slo
    budget_ratio = 1.0 - slo.availability
    window_s = slo.window_days * 86400.0
    out: dict[str, np.ndarray] = {}
    for rule in rules:
        limit = rule.threshold(window_s)
        long_ = _burn(bad, total, max(round(rule.long_window_s / _MINUTE_S), 1), budget_ratio)
        short = _burn(bad, total, max(round(rule.short_window_s / _MINUTE_S), 1), budget_ratio)
        fire = (long_ > limit) & (short > limit)
        out[rule.severity] = out[rule.severity] | fire if rule.severity in out else fire
    return out


def alert_counts(
    result: SimResult, sli: str = "requests", rules: tuple[AlertRule, ...] = DEFAULT_ALERTS
) -> pd.DataFrame:
    """How often the burn-rate alerts would have fired, per replication.

    An alert *episode* starts in a minute where the rules of that severity
    fire and did not fire the minute before.  At the start of a run a window
    holds only the minutes simulated so far (as a Prometheus range with fewer
    samples), so a long window reacts faster there.

    Parameters
    ----------
    result : SimResult
        A simulation result.
    sli : {"requests", "minutes"}
        The SLI alerted on.
    rules : tuple of AlertRule
        The alert rules; default :data:`DEFAULT_ALERTS`.

    Returns
    -------
    pandas.DataFrame
        Index ``replication``; for each severity ``{severity}s`` (episodes
        [count]) and ``{severity}_minutes`` (minutes firing [count]).
    """
    firing = _firing(result, sli, rules)
    data = {}
    for severity, mask in firing.items():
        starts = mask[:, :1].sum(axis=1) + (mask[:, 1:] & ~mask[:, :-1]).sum(axis=1)
        data[f"{severity}s"] = starts
        data[f"{severity}_minutes"] = mask.sum(axis=1)
    return pd.DataFrame(data, index=pd.RangeIndex(result.replications, name="replication"))


def slo_kpis(result: SimResult, sli: str = "requests") -> pd.DataFrame:
    """SLO KPIs per replication, to join with :meth:`SimResult.kpis`.

    Columns
    -------
    slo_good_minutes_fraction
        Share of minutes that meet the SLO (p99 and error ratio) [-].
    error_budget_used
        Share of one SLO window's request error budget spent: within the run
        when it is shorter than the window (its traffic extrapolated to the
        window), on average per window when longer [-] (1 = all of it).
    burn_rate_mean
        Error ratio of the run / (1 - objective) [-].
    pages, tickets
        Burn-rate alert episodes on the ``sli`` (see :func:`alert_counts`) [count].
    paged
        1 if any page fired in the replication, else 0 [-].
    """
    m = minute_series(result)
    slo = result.scenario.slo
    minutes = m["bad"].shape[1]
    requests = m["requests"].sum(axis=1)
    errors = m["errors"].sum(axis=1)
    budget_ratio = 1.0 - slo.availability
    ratio = np.divide(errors, requests, out=np.zeros_like(errors), where=requests > 0)
    window_minutes = slo.window_days * 1440.0
    alerts = alert_counts(result, sli)
    frame = pd.DataFrame(
        {
            "slo_good_minutes_fraction": 1.0 - m["bad"].sum(axis=1) / minutes,
            "error_budget_used": ratio / budget_ratio * min(minutes / window_minutes, 1.0),
            "burn_rate_mean": ratio / budget_ratio,
            "pages": alerts.get("pages", 0),
            "tickets": alerts.get("tickets", 0),
        },
        index=pd.RangeIndex(result.replications, name="replication"),
    )
    frame["paged"] = (frame["pages"] > 0).astype(np.int64)
    frame.insert(0, "scenario", result.scenario.name)
    return frame
