"""Analysis of KPI frames: means with confidence intervals across replications."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["summarize"]


def summarize(kpis: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Mean and Student-t confidence interval of every numeric KPI per scenario.

    Parameters
    ----------
    kpis : pandas.DataFrame
        Rows from :meth:`SimResult.kpis` (one per replication), possibly of
        several scenarios, with a ``scenario`` column.
    confidence : float
        Confidence level of the interval.

    Returns
    -------
    pandas.DataFrame
        Index (scenario, kpi); columns ``mean``, ``ci_low``, ``ci_high``, ``n``.
        With one replication the interval collapses to the mean.
    """
    rows = []
    numeric = [
        c for c in kpis.columns if c != "scenario" and pd.api.types.is_numeric_dtype(kpis[c])
    ]
    for scenario, group in kpis.groupby("scenario", sort=False):
        n = len(group)
        for kpi in numeric:
            values = group[kpi].to_numpy(dtype=float)
            mean = float(values.mean())
            if n > 1:
                sem = float(values.std(ddof=1)) / np.sqrt(n)
                half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sem
            else:
                half = 0.0
            rows.append((scenario, kpi, mean, mean - half, mean + half, n))
    frame = pd.DataFrame(rows, columns=["scenario", "kpi", "mean", "ci_low", "ci_high", "n"])
    return frame.set_index(["scenario", "kpi"])
