"""The forecaster interface: fit on a history, predict ahead, update point by point.

Every forecaster in :mod:`simkit.forecasting` follows one life cycle:

1. ``fit(history, step_s)`` — estimate parameters and state from a 1-D array of
   non-negative counts or rates at a fixed step.
2. ``predict(horizon_steps)`` — a :class:`Forecast` for the next
   ``horizon_steps`` steps: point forecast and a central prediction interval.
3. ``update(new_points)`` — advance the state by new observations at O(1) cost
   per point, without refitting parameters.

Prediction intervals are empirical: at fit time each forecaster replays its own
forecasts over the last part of the history (vectorized), and the quantiles of
the relative errors ``(actual - forecast) / scale`` per horizon become the
interval, with ``scale = max(forecast, scale_floor)``.  Traffic noise grows with
the level (Poisson-like and multiplicative), so relative errors are far closer
to identically distributed than absolute ones.  The quantiles are fixed at fit
time; ``update`` does not change them.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field

import numpy as np

from simkit.errors import SimkitError

__all__ = ["Forecast", "Forecaster", "as_history"]

#: Horizons [steps] at which interval quantiles are calibrated (then interpolated).
_CALIBRATION_GRID = (1, 2, 3, 5, 7, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 360, 720, 1440)


@dataclass(frozen=True)
class Forecast:
    """A point forecast with a central prediction interval.

    Attributes
    ----------
    mean : numpy.ndarray
        Point forecast for steps ``1 .. horizon_steps`` ahead, same unit as the
        history (counts per step or rate), shape ``(horizon_steps,)``, never negative.
    lower, upper : numpy.ndarray
        Bounds of the central prediction interval at ``level``, same shape and unit.
    level : float
        Nominal coverage of the interval, e.g. ``0.8`` for the 10 %–90 % interval.
    step_s : float
        Length of one step [s].
    """

    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    level: float
    step_s: float

    @property
    def horizon_steps(self) -> int:
        """Number of steps forecast."""
        return int(self.mean.size)


def as_history(values: object, name: str = "history", *, min_length: int = 1) -> np.ndarray:
    """Validate a series of observations and return it as a float64 1-D array.

    Parameters
    ----------
    values : array_like
        Counts or rates at a fixed step, oldest first.
    name : str
        Argument name used in error messages.
    min_length : int
        Fewest points allowed.

    Returns
    -------
    numpy.ndarray
        A new float64 array, shape ``(n,)``.

    Raises
    ------
    SimkitError
        Wrong shape, non-numeric, too short, NaN/inf or negative values (the
        first bad index is named).  Nothing is dropped or filled.
    """
    try:
        array = np.array(values, dtype=float)
    except (TypeError, ValueError):
        raise SimkitError(
            f"{name} must be a 1-D array of numbers; got {type(values).__name__}"
        ) from None
    if array.ndim != 1:
        raise SimkitError(f"{name} must be 1-D; got shape {array.shape}")
    if array.size < min_length:
        raise SimkitError(
            f"{name} has {array.size} points; allowed: at least {min_length}"
            + ("" if min_length <= 1 else " for this forecaster")
        )
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        i = int(bad[0])
        raise SimkitError(f"{name}[{i}] = {array[i]}; allowed: finite numbers >= 0")
    neg = np.flatnonzero(array < 0)
    if neg.size:
        i = int(neg[0])
        raise SimkitError(f"{name}[{i}] = {array[i]:g}; allowed: finite numbers >= 0")
    return array


def _check_step_s(step_s: float) -> float:
    try:
        value = float(step_s)
    except (TypeError, ValueError):
        raise SimkitError(f"step_s = {step_s!r}; allowed: a number > 0 [s]") from None
    if not math.isfinite(value) or value <= 0:
        raise SimkitError(f"step_s = {step_s!r}; allowed: a number > 0 [s]")
    return value


def check_horizon(horizon_steps: object) -> int:
    """Validate a forecast horizon and return it as an int (>= 1 step)."""
    if isinstance(horizon_steps, bool) or not isinstance(horizon_steps, int | np.integer):
        raise SimkitError(f"horizon_steps = {horizon_steps!r}; allowed: an integer >= 1")
    if horizon_steps < 1:
        raise SimkitError(f"horizon_steps = {horizon_steps}; allowed: an integer >= 1")
    return int(horizon_steps)


def check_fraction(name: str, value: float | None, *, low: float = 0.0, high: float = 1.0) -> None:
    """Raise unless ``value`` is ``None`` or a number in ``[low, high]``."""
    if value is None:
        return
    if not isinstance(value, int | float) or not low <= float(value) <= high:
        raise SimkitError(f"{name} = {value!r}; allowed: a number in [{low:g}, {high:g}] or None")


@dataclass
class _Intervals:
    """Relative-error quantiles per calibration horizon."""

    horizons: np.ndarray
    q_lower: np.ndarray
    q_upper: np.ndarray
    scale_floor: float

    def bounds(self, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        steps = np.arange(1, mean.size + 1, dtype=float)
        lo = np.interp(steps, self.horizons, self.q_lower)
        hi = np.interp(steps, self.horizons, self.q_upper)
        scale = np.maximum(mean, self.scale_floor)
        return np.maximum(mean + lo * scale, 0.0), mean + hi * scale


@dataclass(kw_only=True)
class Forecaster(abc.ABC):
    """Common base: validation, the fit/predict/update life cycle and intervals.

    Parameters
    ----------
    interval_level : float
        Nominal coverage of the central prediction interval, in (0, 1).
    max_horizon_steps : int
        Longest horizon [steps] at which the interval is calibrated; longer
        horizons reuse the quantiles of this one.
    calibration_steps : int
        Number of most recent history points whose replayed forecast errors
        calibrate the interval.
    """

    interval_level: float = 0.8
    max_horizon_steps: int = 60
    calibration_steps: int = 10080
    step_s: float = field(default=float("nan"), init=False)
    _intervals: _Intervals | None = field(default=None, init=False, repr=False)
    _fit_history: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.interval_level, int | float) or not (
            0.0 < float(self.interval_level) < 1.0
        ):
            raise SimkitError(
                f"interval_level = {self.interval_level!r}; allowed: a number in (0, 1)"
            )
        for attr in ("max_horizon_steps", "calibration_steps"):
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SimkitError(f"{attr} = {value!r}; allowed: an integer >= 1")

    # -- life cycle --------------------------------------------------------------

    def fit(self, history: object, step_s: float = 60.0) -> Forecaster:
        """Estimate parameters and state from ``history``; return ``self``.

        Parameters
        ----------
        history : array_like
            Non-negative counts or rates, oldest first, one per step, 1-D.
        step_s : float
            Length of one step [s].

        The prediction intervals are calibrated on the fit history when first needed
        (by :meth:`predict` or before the first :meth:`update`): a policy that only
        replays point forecasts does not pay for them.

        Raises
        ------
        SimkitError
            Bad values, wrong shape or a history shorter than
            :attr:`min_history_steps`.
        """
        self.step_s = _check_step_s(step_s)
        values = as_history(history, "history", min_length=self.min_history_steps)
        self._intervals = None
        self._fit(values)
        self._fit_history = values
        return self

    def _calibrated(self) -> _Intervals:
        """The prediction intervals, calibrated on the fit history on first use."""
        if self._intervals is None:
            assert self._fit_history is not None
            self._intervals = self._calibrate(self._fit_history)
            self._fit_history = None
        return self._intervals

    def predict(self, horizon_steps: int) -> Forecast:
        """Forecast the next ``horizon_steps`` steps from the current state.

        Parameters
        ----------
        horizon_steps : int
            Number of steps ahead, >= 1.

        Returns
        -------
        Forecast
            Point forecast and central prediction interval at :attr:`interval_level`.

        Raises
        ------
        SimkitError
            The fit history was too short to calibrate the interval (fewer than 10
            replayed forecasts at every horizon).
        """
        horizon = check_horizon(horizon_steps)
        self._require_fitted()
        intervals = self._calibrated()
        mean = np.maximum(self._predict_mean(horizon), 0.0)
        lower, upper = intervals.bounds(mean)
        for array in (mean, lower, upper):
            array.flags.writeable = False
        return Forecast(mean, lower, upper, float(self.interval_level), self.step_s)

    def replay(self, series: object, horizon_steps: int) -> np.ndarray:
        """Forecasts of each point of ``series`` made ``horizon_steps`` earlier.

        Uses the fitted parameters; element ``t`` depends only on ``series[: t -
        horizon_steps + 1]`` and on what :meth:`fit` saw, so a series that starts with
        the fit history and continues past it gives honest out-of-sample forecasts for
        the continuation.  NaN where no forecast exists yet (initialisation).

        Parameters
        ----------
        series : array_like
            Values at the forecaster's step, starting where the fit history started.
        horizon_steps : int
            Lead of each forecast [steps], >= 1.

        Returns
        -------
        numpy.ndarray
            Same length as ``series``; forecasts clipped at 0.
        """
        horizon = check_horizon(horizon_steps)
        self._require_fitted()
        values = as_history(series, "series")
        out = self._replay(values, horizon)
        return np.where(np.isnan(out), np.nan, np.maximum(out, 0.0))

    def update(self, new_points: object) -> Forecaster:
        """Advance the state by new observations (O(1) per point, no refit); return ``self``.

        Parameters
        ----------
        new_points : array_like or float
            Observations that follow the history, oldest first.
        """
        self._require_fitted()
        self._calibrated()  # on the state the fit left
        if np.ndim(new_points) == 0:
            new_points = [new_points]
        values = as_history(new_points, "new_points")
        for value in values.tolist():
            self._update_one(value)
        return self

    # -- what subclasses provide ---------------------------------------------------

    @property
    @abc.abstractmethod
    def min_history_steps(self) -> int:
        """Fewest history points :meth:`fit` accepts."""

    @abc.abstractmethod
    def _fit(self, history: np.ndarray) -> None:
        """Fit parameters and set the state at the end of ``history``."""

    @abc.abstractmethod
    def _predict_mean(self, horizon_steps: int) -> np.ndarray:
        """Point forecast for steps 1..horizon_steps (may be negative; clipped by caller)."""

    @abc.abstractmethod
    def _update_one(self, value: float) -> None:
        """Advance the state by one observation in O(1)."""

    @abc.abstractmethod
    def _replay(self, history: np.ndarray, horizon_steps: int) -> np.ndarray:
        """Forecasts of ``history`` made ``horizon_steps`` earlier with the fitted parameters.

        Returns an array aligned with ``history``: element ``t`` is the forecast
        of ``history[t]`` from the state at ``t - horizon_steps``, or NaN where
        no such forecast exists (inside the initialisation period).
        """

    # -- helpers ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        """Display name used in tables, e.g. ``persistence(15)``."""
        return type(self).__name__.lower()

    @property
    def is_fitted(self) -> bool:
        """True after :meth:`fit`."""
        return self._intervals is not None or self._fit_history is not None

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise SimkitError(f"{type(self).__name__} is not fitted; call fit(history) first")

    def _calibrate(self, history: np.ndarray) -> _Intervals:
        alpha = (1.0 - float(self.interval_level)) / 2.0
        start = max(history.size - self.calibration_steps, 0)
        scale_floor = max(0.05 * float(np.mean(history)), 1e-9)
        grid = [h for h in _CALIBRATION_GRID if h < self.max_horizon_steps]
        grid.append(self.max_horizon_steps)
        horizons, q_lower, q_upper = [], [], []
        for h in grid:
            forecast = np.maximum(self._replay(history, h)[start:], 0.0)
            actual = history[start:]
            ok = np.isfinite(forecast)
            if np.count_nonzero(ok) < 10:
                continue
            relative = (actual[ok] - forecast[ok]) / np.maximum(forecast[ok], scale_floor)
            lo, hi = np.quantile(relative, [alpha, 1.0 - alpha])
            horizons.append(h)
            q_lower.append(min(lo, 0.0))
            q_upper.append(max(hi, 0.0))
        if not horizons:
            raise SimkitError(
                f"history of {history.size} points is too short to calibrate the "
                f"{type(self).__name__} interval; allowed: at least "
                f"{self.min_history_steps + 10} points"
            )
        return _Intervals(
            np.asarray(horizons, dtype=float),
            np.asarray(q_lower),
            np.asarray(q_upper),
            scale_floor,
        )
