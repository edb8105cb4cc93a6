"""Simulated time: the control period, the step and the calendar."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from simkit.errors import SimkitError
from simkit.scenario import Scenario
from simkit.units import parse_duration

__all__ = ["DEFAULT_START", "Clock", "make_clock"]

#: Simulations start on a Monday at midnight UTC unless told otherwise.
DEFAULT_START = pd.Timestamp("2024-01-01T00:00:00Z")


@dataclass(frozen=True)
class Clock:
    """Control period and step [s], number of periods, start (UTC)."""

    period_s: float
    step_s: float
    steps_per_period: int
    n_periods: int
    start: pd.Timestamp

    @property
    def n_steps(self) -> int:
        return self.n_periods * self.steps_per_period


def make_clock(
    scenario: Scenario, duration: str | float, step: str | float, start: object, trace: object
) -> Clock:
    duration_s = parse_duration(duration, name="duration")
    step_s = parse_duration(step, name="step")
    period_s = scenario.autoscaling.sync_period_s
    ratio = period_s / step_s
    if ratio < 1 - 1e-9 or abs(ratio - round(ratio)) > 1e-9:
        divisors = [d for d in range(1, int(period_s) + 1) if period_s % d == 0]
        raise SimkitError(
            f"step = {step_s:g} s must divide autoscaling.sync_period_s = {period_s:g} s; "
            f"allowed steps: {', '.join(f'{d}s' for d in divisors)}"
        )
    n_periods = duration_s / period_s
    if abs(n_periods - round(n_periods)) > 1e-9:
        raise SimkitError(
            f"duration = {duration_s:g} s must be a whole number of control periods "
            f"(autoscaling.sync_period_s = {period_s:g} s)"
        )
    if start is None:
        start_ts = trace.index[0] if isinstance(trace, pd.Series) else DEFAULT_START
    else:
        try:
            start_ts = pd.Timestamp(start)
        except (ValueError, TypeError):
            raise SimkitError(f"start = {start!r} is not a timestamp (e.g. '2024-01-01')") from None
        start_ts = start_ts.tz_localize("UTC") if start_ts.tzinfo is None else start_ts
    return Clock(period_s, step_s, round(ratio), round(n_periods), start_ts.tz_convert("UTC"))
