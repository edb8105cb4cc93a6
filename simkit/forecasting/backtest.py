"""Rolling-origin backtest of forecasters: MAE, sMAPE and interval coverage per horizon.

Each forecaster is fitted once on the series before the test span (the past
only).  At each origin it forecasts ``max(horizons_steps)`` steps ahead from
what it has seen, then :meth:`~simkit.forecasting.Forecaster.update` advances
it to the next origin — no refit, unless ``refit_every_steps`` asks for a
periodic refit on the past ``train_steps`` points.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from simkit.errors import SimkitError
from simkit.forecasting.base import Forecaster, as_history
from simkit.forecasting.metrics import coverage, mae, smape_pct

__all__ = ["rolling_origin_backtest", "rolling_origin_forecasts", "summarize_backtest"]


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise SimkitError(f"{name} = {value!r}; allowed: an integer >= 1 [steps]")
    return int(value)


def rolling_origin_forecasts(
    series: object,
    forecasters: Mapping[str, Forecaster] | Sequence[Forecaster],
    *,
    train_steps: int,
    horizons_steps: Sequence[int],
    origin_every_steps: int,
    step_s: float = 60.0,
    refit_every_steps: int | None = None,
) -> pd.DataFrame:
    """Forecasts and actuals at every origin and horizon (the raw backtest).

    Parameters
    ----------
    series : array_like
        The whole series (non-negative, fixed step), oldest first.
    forecasters : mapping of name to Forecaster, or sequence of Forecaster
        Unfitted forecasters; each is deep-copied, the originals are untouched.
        A sequence is keyed by each forecaster's ``name``.
    train_steps : int
        The first origin is at ``train_steps``: forecasters are fitted on
        ``series[:train_steps]``.
    horizons_steps : sequence of int
        Horizons [steps] to score, each >= 1.
    origin_every_steps : int
        Steps between consecutive origins.
    step_s : float
        Length of one step [s].
    refit_every_steps : int, optional
        Refit on the last ``train_steps`` points every this many steps; ``None``
        (default) never refits.

    Returns
    -------
    pandas.DataFrame
        One row per (forecaster, origin, horizon): columns ``forecaster``,
        ``origin`` (index into ``series`` of the first forecast step),
        ``horizon_steps``, ``actual``, ``mean``, ``lower``, ``upper``, ``level``.

    Raises
    ------
    SimkitError
        Bad series or arguments, or no origin with a full horizon in the series.
    """
    values = as_history(series, "series")
    train = _positive_int("train_steps", train_steps)
    every = _positive_int("origin_every_steps", origin_every_steps)
    horizons = sorted({_positive_int("horizons_steps", h) for h in horizons_steps})
    if not horizons:
        raise SimkitError("horizons_steps is empty; allowed: one or more integers >= 1")
    if refit_every_steps is not None:
        refit_every_steps = _positive_int("refit_every_steps", refit_every_steps)
    max_h = horizons[-1]
    origins = np.arange(train, values.size - max_h + 1, every)
    if origins.size == 0:
        raise SimkitError(
            f"series of {values.size} points leaves no origin after train_steps = {train} "
            f"with a {max_h}-step horizon; allowed: train_steps + max horizon <= len(series)"
        )
    if isinstance(forecasters, Mapping):
        items = list(forecasters.items())
    else:
        items = [(f.name, f) for f in forecasters]
    if not items:
        raise SimkitError("forecasters is empty; allowed: one or more Forecaster objects")
    h_index = np.asarray(horizons) - 1
    frames = []
    for label, template in items:
        if not isinstance(template, Forecaster):
            raise SimkitError(
                f"forecasters[{label!r}] is a {type(template).__name__}; allowed: a Forecaster"
            )
        model = copy.deepcopy(template).fit(values[:train], step_s)
        last_fit = train
        seen = train
        rows = []
        for origin in origins.tolist():
            if origin > seen:
                model.update(values[seen:origin])
                seen = origin
            if refit_every_steps is not None and origin - last_fit >= refit_every_steps:
                model = copy.deepcopy(template).fit(values[origin - train : origin], step_s)
                last_fit = origin
            fc = model.predict(max_h)
            rows.append(
                np.column_stack(
                    [
                        np.full(len(horizons), origin),
                        horizons,
                        values[origin + h_index],
                        fc.mean[h_index],
                        fc.lower[h_index],
                        fc.upper[h_index],
                    ]
                )
            )
        block = np.vstack(rows)
        frame = pd.DataFrame(
            block, columns=["origin", "horizon_steps", "actual", "mean", "lower", "upper"]
        )
        frame["origin"] = frame["origin"].astype(np.int64)
        frame["horizon_steps"] = frame["horizon_steps"].astype(np.int64)
        frame.insert(0, "forecaster", label)
        frame["level"] = model.interval_level
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out.attrs["step_s"] = float(step_s)
    return out


def summarize_backtest(forecasts: pd.DataFrame, step_s: float | None = None) -> pd.DataFrame:
    """Per forecaster and horizon: MAE, sMAPE [%] and interval coverage.

    Parameters
    ----------
    forecasts : pandas.DataFrame
        Output of :func:`rolling_origin_forecasts`.
    step_s : float, optional
        Length of one step [s]; defaults to ``forecasts.attrs["step_s"]``.

    Returns
    -------
    pandas.DataFrame
        Tidy table with columns ``forecaster``, ``horizon_steps``, ``horizon_min``,
        ``origins``, ``mae``, ``smape_pct``, ``coverage``, ``level``, in the
        order the forecasters were given.
    """
    step = float(step_s if step_s is not None else forecasts.attrs.get("step_s", 60.0))
    rows = []
    order = list(dict.fromkeys(forecasts["forecaster"]))
    for (name, h), group in forecasts.groupby(["forecaster", "horizon_steps"], sort=False):
        rows.append(
            {
                "forecaster": name,
                "horizon_steps": int(h),
                "horizon_min": int(h) * step / 60.0,
                "origins": len(group),
                "mae": mae(group["mean"], group["actual"]),
                "smape_pct": smape_pct(group["mean"], group["actual"]),
                "coverage": coverage(group["lower"], group["upper"], group["actual"]),
                "level": float(group["level"].iloc[0]),
            }
        )
    table = pd.DataFrame(rows)
    table["_order"] = table["forecaster"].map({name: i for i, name in enumerate(order)})
    table = table.sort_values(["_order", "horizon_steps"]).drop(columns="_order")
    return table.reset_index(drop=True)


def rolling_origin_backtest(
    series: object,
    forecasters: Mapping[str, Forecaster] | Sequence[Forecaster],
    *,
    train_steps: int,
    horizons_steps: Sequence[int],
    origin_every_steps: int,
    step_s: float = 60.0,
    refit_every_steps: int | None = None,
) -> pd.DataFrame:
    """Rolling-origin backtest summary (see :func:`rolling_origin_forecasts`).

    Returns
    -------
    pandas.DataFrame
        :func:`summarize_backtest` of the raw forecasts.
    """
    raw = rolling_origin_forecasts(
        series,
        forecasters,
        train_steps=train_steps,
        horizons_steps=horizons_steps,
        origin_every_steps=origin_every_steps,
        step_s=step_s,
        refit_every_steps=refit_every_steps,
    )
    return summarize_backtest(raw, step_s)
