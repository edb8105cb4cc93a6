"""Predictive scaling: a capacity floor from a load forecast, under the HPA.

Modelled on the public description of cloud predictive scaling (AWS EC2 Auto
Scaling predictive scaling): the policy learns from up to 14 days of load
history and needs at least 24 hours before it acts; it forecasts the load a
lead time ahead — at least the instance start-up time plus a scheduling
buffer — and asks for the instances that serve the forecast at the target
utilization.  It only ever raises the floor under the reactive autoscaler:
``desired = max(floor, hpa)``; scale-in is left to the HPA.

The offered load is exogenous (it does not depend on the instances), so the
floor for a whole run is computed before the simulation, causally: the
forecaster is refitted once a day on the history so far and replays the next
day, each forecast using only data from before it was made.
"""

from __future__ import annotations

import math

import numpy as np

from simkit.errors import ScenarioError
from simkit.forecasting import Forecaster, HoltWinters, Persistence, ProfileLevel, SeasonalNaive
from simkit.scenario import Scenario

__all__ = ["MIN_HISTORY_S", "forecast_floor", "make_forecaster", "target_rate_per_instance_rps"]

#: History the policy needs before it acts (AWS predictive scaling: 24 hours).
MIN_HISTORY_S = 86400.0
#: The forecaster works on per-minute averages of the offered rate.
FORECAST_STEP_S = 60.0
_DAY_STEPS = 1440
#: Points a forecaster needs beyond its seasonal period to calibrate its intervals.
_CALIBRATION_MARGIN_STEPS = 30


def make_forecaster(name: str, history_steps: int) -> Forecaster:
    """The forecaster called ``name``, with the seasonality the history supports.

    Weekly seasonality needs a week of history and two weeks for Holt-Winters;
    with less, the daily-only variant is used (stated, not silent: see
    ``forecaster.name``).
    """
    week = 7 * _DAY_STEPS
    if name == "persistence":
        return Persistence(15)
    if name == "seasonal-naive":
        return SeasonalNaive(week if history_steps >= week else _DAY_STEPS)
    if name == "holt-winters":
        periods = (_DAY_STEPS, week) if history_steps >= 2 * week else (_DAY_STEPS,)
        return HoltWinters(periods_steps=periods)
    if name == "profile-level":
        return ProfileLevel(weekly=history_steps >= week)
    raise ScenarioError(
        f"forecasting.forecaster = {name!r} is not allowed; choose one of "
        "['persistence', 'seasonal-naive', 'holt-winters', 'profile-level']"
    )


def target_rate_per_instance_rps(scenario: Scenario) -> float:
    """Requests per second one instance serves at the HPA's target CPU utilization.

    The HPA targets ``target% x request`` of CPU; an instance uses
    ``idle + busy_fraction x workers x busy`` (see :mod:`simkit.autoscaling.policies`),
    so the target busy fraction is ``(target% x request - idle) / (workers x busy)``.
    """
    a = scenario.autoscaling
    workers = scenario.servers_per_instance
    cpu_at_target = a.target_cpu_utilization_percent / 100.0 * a.cpu_request_milli
    busy = (cpu_at_target - a.cpu_idle_milli) / (workers * a.cpu_busy_milli)
    busy = min(max(busy, 0.05), 1.0)
    return busy * workers * scenario.service_rate_rps


def _minute_means(rate_rps: np.ndarray, period_s: float) -> np.ndarray:
    per_minute = FORECAST_STEP_S / period_s
    if per_minute < 1 or abs(per_minute - round(per_minute)) > 1e-9:
        raise ScenarioError(
            f"autoscaling.sync_period_s = {period_s:g} s must divide 60 s for predictive scaling"
        )
    m = round(per_minute)
    n_min = rate_rps.shape[1] // m
    return rate_rps[:, : n_min * m].reshape(rate_rps.shape[0], n_min, m).mean(axis=2)


def _forecast_row(row: np.ndarray, name: str, lead_steps: int, history_days: float) -> np.ndarray:
    """Per-minute forecast made ``lead_steps`` earlier; NaN before the policy may act."""
    out = np.full(row.size, np.nan)
    first_day = max(math.ceil(MIN_HISTORY_S / (FORECAST_STEP_S * _DAY_STEPS)), 1)
    n_days = math.ceil(row.size / _DAY_STEPS)
    keep_steps = round(history_days * _DAY_STEPS)
    for day in range(first_day, n_days):
        start = day * _DAY_STEPS
        lo = max(0, start - keep_steps)
        history = row[lo:start]
        forecaster = make_forecaster(name, history.size)
        if history.size < forecaster.min_history_steps + _CALIBRATION_MARGIN_STEPS:
            continue  # not enough history to fit yet: the policy waits another day
        forecaster.fit(history, FORECAST_STEP_S)
        stop = min(start + _DAY_STEPS, row.size)
        replay = forecaster.replay(row[lo:stop], lead_steps)
        out[start:stop] = replay[history.size :]
    return out


def forecast_floor(
    scenario: Scenario, rate_rps: np.ndarray, period_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Capacity floor requested in each period, and the forecast behind it.

    Parameters
    ----------
    scenario : Scenario
        Uses ``forecasting`` (forecaster, history_days, scheduling_buffer_s) and
        ``autoscaling`` (start-up time, target utilization, min/max replicas).
    rate_rps : numpy.ndarray
        Offered rate per period [1/s], ``[R, P]`` (the load the policy observes).
    period_s : float
        Control period [s]; must divide 60 s.

    Returns
    -------
    floor : numpy.ndarray
        Instances the policy asks for at the end of each period, int64 ``[R, P]``;
        0 while it may not act yet.  Requested ``lead`` ahead of the load it serves.
    forecast_rps : numpy.ndarray
        Forecast rate for ``lead`` ahead, per period [1/s], ``[R, P]``; 0 while
        the policy may not act.
    """
    f = scenario.forecasting
    a = scenario.autoscaling
    lead_steps = max(math.ceil((a.startup_s + f.scheduling_buffer_s) / FORECAST_STEP_S), 1)
    minutes = _minute_means(rate_rps, period_s)
    # Rows with the same load (a replayed trace) share one forecast (rows hashed by
    # their bytes: np.unique(axis=0) costs more than a one-replication run's forecast).
    first: dict[bytes, int] = {}
    inverse = [first.setdefault(row.tobytes(), i) for i, row in enumerate(minutes)]
    rows = sorted(set(inverse))  # the first replication of each distinct load
    unique = minutes[rows]
    inverse = np.searchsorted(rows, inverse)
    forecasts = np.stack(
        [_forecast_row(row, f.forecaster, lead_steps, f.history_days) for row in unique]
    )[inverse]
    # forecasts[:, t] predicts minute t from minute t - lead; request it at t - lead.
    ahead = np.full_like(forecasts, np.nan)
    ahead[:, :-lead_steps] = forecasts[:, lead_steps:]
    per_minute = round(FORECAST_STEP_S / period_s)
    n_per = rate_rps.shape[1]
    ahead = np.repeat(ahead, per_minute, axis=1)
    padded = np.full((rate_rps.shape[0], n_per), np.nan)
    padded[:, : ahead.shape[1]] = ahead[:, :n_per]
    forecast_rps = np.nan_to_num(padded, nan=0.0)
    floor = np.ceil(forecast_rps / target_rate_per_instance_rps(scenario))
    floor = np.where(np.isnan(padded), 0, np.clip(floor, a.min_replicas, a.max_replicas))
    return floor.astype(np.int64), forecast_rps
