"""Double seasonal Holt-Winters exponential smoothing (Taylor 2003).

Taylor, J. W. (2003), "Short-term electricity demand forecasting using double
seasonal exponential smoothing", *J. Oper. Res. Soc.* 54, 799–805.  With a
level ``l``, daily index ``d`` (period ``m1``), weekly index ``w`` (period
``m2``) and the multiplicative form used by default here::

    l[t] = alpha * y[t] / (d[t-m1] w[t-m2]) + (1 - alpha) l[t-1]
    d[t] = delta * y[t] / (l[t] w[t-m2])    + (1 - delta) d[t-m1]
    w[t] = omega * y[t] / (l[t] d[t-m1])    + (1 - omega) w[t-m2]
    yhat[t](k) = l[t] d[t-m1+k] w[t-m2+k] + phi**k e[t]
    e[t] = y[t] - l[t-1] d[t-m1] w[t-m2]

(the additive form, the default here, replaces products and ratios by sums and
differences).
``phi`` is Taylor's first-order autoregressive adjustment of the one-step error.

Choices, with reasons:

- **Additive by default.** Web traffic scales, which argues for multiplicative
  seasonality, but the weekly index here has one value per minute of the week,
  so the weekday x hour interaction that multiplicative seasonality mainly
  buys is already in the additive model.  What remains is the cost: per-minute
  ratios ``y / (l d w)`` amplify Poisson noise at night, and one outage (zeros)
  in the past drives an index to ~0 so the next normal minute makes the level
  explode.  On the NASA trace the additive form has the lower backtest error at
  every horizon (``benchmarks/forecasting.py``); ``seasonality="multiplicative"``
  is available, its combined factor floored at 0.05.
- **No trend term.** At 1-minute resolution a trend ``k * b[t]`` extrapolates
  noise over a one-hour horizon; slow drift is carried by the level.
- **Seasonal indices initialised from the first (longest) season**, smoothed
  over ``init_smoothing_steps`` neighbouring phases because one week of
  per-minute counts is dominated by Poisson noise.  Parameters are fitted on
  the rest of the history, so the history must hold at least two longest
  seasons (two weeks with weekly seasonality).  With less history, use
  ``periods_steps=(1440,)`` (daily only, two days needed) — an explicit
  choice, never a silent fallback.
- **Fitting** minimises the mean squared error of the forecasts at
  ``fit_horizons_steps`` (one-step by default, as Taylor) over the history
  after initialisation, with ``scipy.optimize.minimize`` (L-BFGS-B, bounds
  [0, 1]).  The recursion is evaluated block by block: within a block no longer
  than the shortest season the seasonal indices it reads are already known, so
  the level is a first-order linear filter (``scipy.signal.lfilter``) and the
  seasonal updates are whole-array operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.optimize import minimize
from scipy.signal import lfilter

from simkit.errors import SimkitError
from simkit.forecasting.base import Forecaster, check_fraction

__all__ = ["HoltWinters"]

_EPS = 1e-9
#: Floor of a multiplicative seasonal factor: a phase that was ~0 in the past (an
#: outage) would otherwise turn the next normal value into an exploding level.
_MIN_FACTOR = 0.05


def _circular_smooth(values: np.ndarray, width: int) -> np.ndarray:
    """Centered moving average of ``width`` points on a circle (``width`` made odd)."""
    half = max(int(width), 1) // 2
    if half == 0:
        return values.copy()
    padded = np.concatenate([values[-half:], values, values[:half]])
    cumulative = np.concatenate([[0.0], np.cumsum(padded)])
    return (cumulative[2 * half + 1 :] - cumulative[: -2 * half - 1]) / (2 * half + 1)


@dataclass
class HoltWinters(Forecaster):
    """Double (or single) seasonal Holt-Winters with an AR(1) error adjustment.

    Parameters
    ----------
    periods_steps : tuple of int
        Season lengths [steps], shortest first; each must divide the longest.
        ``(1440, 10080)`` is daily and weekly at 1-minute steps.
    seasonality : {"multiplicative", "additive"}
        How level and seasonal indices combine.
    alpha, gammas, phi : float or None
        Level smoothing, one seasonal smoothing per period, AR(1) adjustment,
        each in [0, 1]; ``None`` (default) fits it.
    fit_horizons_steps : tuple of int
        Horizons [steps] whose mean squared error the fit minimises.
    init_smoothing_steps : int
        Width [steps] of the moving average applied to the initial seasonal indices.
    """

    periods_steps: tuple[int, ...] = (1440, 10080)
    seasonality: Literal["multiplicative", "additive"] = "additive"
    alpha: float | None = None
    gammas: tuple[float, ...] | None = None
    phi: float | None = None
    fit_horizons_steps: tuple[int, ...] = (1,)
    init_smoothing_steps: int = 15
    params_: dict[str, float] = field(default_factory=dict, init=False)
    _level: float = field(default=0.0, init=False, repr=False)
    _error: float = field(default=0.0, init=False, repr=False)
    _rings: list[np.ndarray] = field(default_factory=list, init=False, repr=False)
    _count: int = field(default=0, init=False, repr=False)
    _fitted_params: tuple[float, tuple[float, ...], float] = field(
        default=(0.0, (), 0.0), init=False, repr=False
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        periods = tuple(self.periods_steps)
        if not 1 <= len(periods) <= 2 or any(
            isinstance(p, bool) or not isinstance(p, int | np.integer) or p < 2 for p in periods
        ):
            raise SimkitError(
                f"periods_steps = {self.periods_steps!r}; allowed: one or two integers >= 2, "
                "e.g. (1440, 10080)"
            )
        if list(periods) != sorted(periods) or any(periods[-1] % p for p in periods):
            raise SimkitError(
                f"periods_steps = {self.periods_steps!r}; allowed: increasing, each dividing "
                "the longest, e.g. (1440, 10080)"
            )
        self.periods_steps = tuple(int(p) for p in periods)
        if self.seasonality not in ("multiplicative", "additive"):
            raise SimkitError(
                f"seasonality = {self.seasonality!r}; allowed: 'multiplicative', 'additive'"
            )
        check_fraction("alpha", self.alpha)
        check_fraction("phi", self.phi)
        if self.gammas is not None:
            if len(self.gammas) != len(periods):
                raise SimkitError(
                    f"gammas = {self.gammas!r}; allowed: one value per period "
                    f"({len(periods)}) or None"
                )
            for gamma in self.gammas:
                check_fraction("gammas", gamma)
        if not self.fit_horizons_steps or any(
            not isinstance(h, int) or not 1 <= h <= periods[0] for h in self.fit_horizons_steps
        ):
            raise SimkitError(
                f"fit_horizons_steps = {self.fit_horizons_steps!r}; allowed: integers in "
                f"[1, {periods[0]}]"
            )
        if not isinstance(self.init_smoothing_steps, int) or self.init_smoothing_steps < 1:
            raise SimkitError(
                f"init_smoothing_steps = {self.init_smoothing_steps!r}; allowed: an integer >= 1"
            )

    @property
    def name(self) -> str:
        kind = "mult" if self.seasonality == "multiplicative" else "add"
        return f"holt_winters_{kind}({','.join(str(p) for p in self.periods_steps)})"

    @property
    def min_history_steps(self) -> int:
        return 2 * self.periods_steps[-1]

    @property
    def _multiplicative(self) -> bool:
        return self.seasonality == "multiplicative"

    # -- batch recursion ---------------------------------------------------------------

    def _initial_state(self, history: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """Level and seasonal indices (by phase) from the first longest season."""
        first = history[: self.periods_steps[-1]]
        level = max(float(first.mean()), _EPS)
        base = np.full(first.size, level)
        seasons = []
        for m in self.periods_steps:
            ratio = first / np.maximum(base, _EPS) if self._multiplicative else first - base
            index = _circular_smooth(ratio.reshape(-1, m).mean(axis=0), self.init_smoothing_steps)
            if self._multiplicative:
                index = np.maximum(index, _MIN_FACTOR)
            seasons.append(index)
            tiled = np.tile(index, first.size // m)
            base = base * tiled if self._multiplicative else base + tiled
        return level, seasons

    def _run(
        self, history: np.ndarray, alpha: float, gammas: tuple[float, ...]
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """Run the recursion over ``history``.

        Returns
        -------
        level : numpy.ndarray
            ``l[t]``, shape ``(n,)``.
        error : numpy.ndarray
            One-step error of the base model ``e[t]``, shape ``(n,)``.
        seasons : list of numpy.ndarray
            Per period ``m``: ``s[t]`` stored at index ``m + t``; indices ``0..m-1``
            are the initial values (times ``-m .. -1``).
        """
        n = history.size
        level0, init = self._initial_state(history)
        seasons = [np.concatenate([s0, np.empty(n)]) for s0 in init]
        level = np.empty(n)
        error = np.empty(n)
        block = self.periods_steps[0]
        previous_level = level0
        mult = self._multiplicative
        for start in range(0, n, block):
            stop = min(start + block, n)
            y = history[start:stop]
            prev = [s[start:stop] for s in seasons]  # s[t - m] for t in the block
            combined = prev[0].copy()
            for p in prev[1:]:
                combined = combined * p if mult else combined + p
            if mult:
                combined = np.maximum(combined, _MIN_FACTOR)
                z = y / combined
            else:
                z = y - combined
            lvl = lfilter([alpha], [1.0, alpha - 1.0], z, zi=[(1.0 - alpha) * previous_level])[0]
            lagged = np.concatenate([[previous_level], lvl[:-1]])
            error[start:stop] = y - (lagged * combined if mult else lagged + combined)
            level[start:stop] = lvl
            for c, (m, gamma) in enumerate(zip(self.periods_steps, gammas, strict=True)):
                others = [p for j, p in enumerate(prev) if j != c]
                if mult:
                    denominator = np.maximum(lvl, _EPS)
                    for p in others:
                        denominator = denominator * p
                    new = gamma * y / np.maximum(denominator, _EPS) + (1.0 - gamma) * prev[c]
                else:
                    new = gamma * (y - lvl - sum(others)) + (1.0 - gamma) * prev[c]
                seasons[c][m + start : m + stop] = new
            previous_level = float(lvl[-1])
        return level, error, seasons

    def _forecast_from_states(
        self,
        level: np.ndarray,
        error: np.ndarray,
        seasons: list[np.ndarray],
        phi: float,
        horizon_steps: int,
    ) -> np.ndarray:
        """``horizon_steps``-ahead forecasts aligned with their targets (NaN before)."""
        n = level.size
        h = horizon_steps
        out = np.full(n, np.nan)
        if h >= n:
            return out
        targets = np.arange(h, n)
        origins = targets - h
        fc = level[origins].copy()
        for m, s in zip(self.periods_steps, seasons, strict=True):
            index = targets + m - m * (-(-h // m))
            fc = fc * s[index] if self._multiplicative else fc + s[index]
        out[h:] = fc + phi**h * error[origins]
        return out

    # -- fitting -------------------------------------------------------------------------

    def _unpack(self, x: np.ndarray) -> tuple[float, tuple[float, ...], float]:
        values = iter(x.tolist())
        alpha = self.alpha if self.alpha is not None else next(values)
        if self.gammas is not None:
            gammas = tuple(self.gammas)
        else:
            gammas = tuple(next(values) for _ in self.periods_steps)
        phi = self.phi if self.phi is not None else next(values)
        return float(alpha), tuple(float(g) for g in gammas), float(phi)

    def _fit(self, history: np.ndarray) -> None:
        skip = self.periods_steps[-1]
        scale = max(float(np.var(history[skip:])), _EPS)

        def loss(x: np.ndarray) -> float:
            alpha, gammas, phi = self._unpack(x)
            level, error, seasons = self._run(history, alpha, gammas)
            total = 0.0
            for h in self.fit_horizons_steps:
                fc = self._forecast_from_states(level, error, seasons, phi, h)
                residual = history[skip + h :] - fc[skip + h :]
                total += float(np.mean(residual * residual))
            return total / (scale * len(self.fit_horizons_steps))

        start: list[float] = []
        bounds: list[tuple[float, float]] = []
        if self.alpha is None:
            start.append(0.1)
            bounds.append((0.0, 1.0))
        if self.gammas is None:
            start.extend([0.05] * len(self.periods_steps))
            bounds.extend([(0.0, 1.0)] * len(self.periods_steps))
        if self.phi is None:
            start.append(0.3)
            bounds.append((0.0, 0.99))
        if start:
            result = minimize(loss, np.asarray(start), method="L-BFGS-B", bounds=bounds)
            x = np.clip(result.x, [b[0] for b in bounds], [b[1] for b in bounds])
        else:
            x = np.zeros(0)
        alpha, gammas, phi = self._unpack(x)
        self.params_ = {"alpha": alpha, "phi": phi}
        for m, gamma in zip(self.periods_steps, gammas, strict=True):
            self.params_[f"gamma_{m}"] = gamma
        level, error, seasons = self._run(history, alpha, gammas)
        self._level = float(level[-1])
        self._error = float(error[-1])
        self._count = history.size
        # ring[time % m] holds the latest index of that phase.
        self._rings = []
        for m, s in zip(self.periods_steps, seasons, strict=True):
            ring = np.empty(m)
            times = np.arange(history.size - m, history.size)
            ring[times % m] = s[-m:]
            self._rings.append(ring)
        self._fitted_params = (alpha, gammas, phi)

    # -- online ------------------------------------------------------------------------

    def _predict_mean(self, horizon_steps: int) -> np.ndarray:
        phi = self._fitted_params[2]
        future = self._count + np.arange(horizon_steps)
        fc = np.full(horizon_steps, self._level)
        for m, ring in zip(self.periods_steps, self._rings, strict=True):
            fc = fc * ring[future % m] if self._multiplicative else fc + ring[future % m]
        return fc + phi ** np.arange(1, horizon_steps + 1) * self._error

    def _update_one(self, value: float) -> None:
        alpha, gammas, _ = self._fitted_params
        phases = [self._count % m for m in self.periods_steps]
        prev = [float(ring[p]) for ring, p in zip(self._rings, phases, strict=True)]
        mult = self._multiplicative
        if mult:
            combined = max(float(np.prod(prev)), _MIN_FACTOR)
            self._error = value - self._level * combined
            level = alpha * value / combined + (1.0 - alpha) * self._level
        else:
            combined = float(sum(prev))
            self._error = value - (self._level + combined)
            level = alpha * (value - combined) + (1.0 - alpha) * self._level
        for c, (ring, phase, gamma) in enumerate(zip(self._rings, phases, gammas, strict=True)):
            others = [p for j, p in enumerate(prev) if j != c]
            if mult:
                denominator = max(max(level, _EPS) * float(np.prod(others)), _EPS)
                ring[phase] = gamma * value / denominator + (1.0 - gamma) * prev[c]
            else:
                ring[phase] = gamma * (value - level - sum(others)) + (1.0 - gamma) * prev[c]
        self._level = level
        self._count += 1

    def _replay(self, history: np.ndarray, horizon_steps: int) -> np.ndarray:
        alpha, gammas, phi = self._fitted_params
        level, error, seasons = self._run(history, alpha, gammas)
        out = self._forecast_from_states(level, error, seasons, phi, horizon_steps)
        out[: self.periods_steps[-1]] = np.nan  # initialisation period is in-sample
        return out
