"""Pareto fronts of sweeps: configurations no other one beats on both objectives."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from simkit.errors import SimkitError
from simkit.result import SimResult

__all__ = ["non_dominated", "pareto"]

_CHUNK = 2048


def non_dominated(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mask of the points that no other point dominates, both objectives minimized.

    Point ``j`` dominates point ``i`` when ``x[j] <= x[i]`` and ``y[j] <= y[i]``
    with at least one strict inequality; equal points do not dominate each other.

    Parameters
    ----------
    x, y : numpy.ndarray
        Objectives, finite, same shape ``(n,)``.

    Returns
    -------
    numpy.ndarray
        Boolean mask, shape ``(n,)``.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    keep = np.ones(x.size, dtype=bool)
    for lo in range(0, x.size, _CHUNK):
        xi, yi = x[lo : lo + _CHUNK, None], y[lo : lo + _CHUNK, None]
        dominated = (x <= xi) & (y <= yi) & ((x < xi) | (y < yi))
        keep[lo : lo + _CHUNK] = ~dominated.any(axis=1)
    return keep


def pareto(
    results: Sequence[SimResult] | pd.DataFrame,
    x: str = "cost_usd",
    y: str = "slo_minutes_violated",
    *,
    maximize: Sequence[str] = (),
    by: str = "scenario",
) -> pd.DataFrame:
    """The non-dominated configurations of a sweep on two objectives.

    Parameters
    ----------
    results : sequence of SimResult, or pandas.DataFrame
        Results of a sweep, or a frame with one row per configuration (or one
        row per replication with a ``by`` column: rows are averaged per ``by``).
    x, y : str
        Objective columns, minimized unless named in ``maximize``.
    maximize : sequence of str
        Objectives where larger is better (e.g. ``"availability"``).
    by : str
        Column naming the configuration, when rows are replications.

    Returns
    -------
    pandas.DataFrame
        The non-dominated rows (means per configuration), sorted by ``x``.
    """
    if isinstance(results, pd.DataFrame):
        frame = results
    else:
        from simkit.analysis.kpis import kpi_frame

        frame = kpi_frame(list(results))
    for name in (x, y):
        if name not in frame.columns:
            raise SimkitError(f"{name!r} is not a column; allowed: {list(frame.columns)}")
    unknown = [m for m in maximize if m not in (x, y)]
    if unknown:
        raise SimkitError(f"maximize = {unknown} must name x or y; allowed: {[x, y]}")
    if by in frame.columns and frame[by].duplicated().any():
        numeric = [
            c
            for c in frame.columns
            if c not in (by, "replication", "seed") and pd.api.types.is_numeric_dtype(frame[c])
        ]
        frame = frame.groupby(by, sort=False)[numeric].mean().reset_index()
    xs = frame[x].to_numpy(dtype=np.float64) * (-1.0 if x in maximize else 1.0)
    ys = frame[y].to_numpy(dtype=np.float64) * (-1.0 if y in maximize else 1.0)
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        raise SimkitError(f"columns {x!r} and {y!r} must be finite numbers (no NaN or inf)")
    front = frame[non_dominated(xs, ys)]
    return front.sort_values([x, y], kind="stable")
