"""Confidence intervals over replications and significance tests between scenarios.

Every interval is a bootstrap interval of the mean over replications (BCa, or
the percentile interval where BCa is undefined); every test comes from
:mod:`scipy.stats` and is named in the output.  Runs simulated with the same
seed share random numbers replication by replication (common random numbers),
so they are compared with a *paired* test; otherwise with a two-sample test.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from simkit.analysis.kpis import kpi_frame
from simkit.errors import SimkitError
from simkit.result import SimResult

__all__ = ["TESTS", "bootstrap_ci", "compare", "significance_test", "summarize"]

#: Test used for (paired, family): ``family`` is "rank" (default) or "t".
TESTS = {
    (True, "rank"): "Wilcoxon signed-rank",
    (True, "t"): "paired t",
    (False, "rank"): "Mann-Whitney U",
    (False, "t"): "Welch t",
}
#: Bootstrap resamples behind every interval.
N_RESAMPLES = 9999


def _check_level(name: str, value: float) -> float:
    if not isinstance(value, int | float) or not 0.0 < float(value) < 1.0:
        raise SimkitError(f"{name} = {value!r} is out of range; allowed: 0 < {name} < 1")
    return float(value)


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Mean and bootstrap confidence interval of the mean of independent replications.

    Uses :func:`scipy.stats.bootstrap` with the BCa method, falling back to the
    percentile method where BCa is undefined (nearly constant data).  The
    interval depends only on the values, the level and ``seed``: it can be
    recomputed exactly from a saved ``kpis.csv``.

    Parameters
    ----------
    values : array_like of float
        One value per replication (same unit as the KPI).
    confidence : float
        Confidence level, 0 < confidence < 1 [-].
    n_resamples : int
        Bootstrap resamples.
    seed : int
        Seed of the resampling generator.

    Returns
    -------
    tuple of float
        ``(mean, ci_low, ci_high)`` in the unit of ``values``; with one value,
        or values all equal, the interval collapses to the mean.
    """
    confidence = _check_level("confidence", confidence)
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0 or not np.isfinite(x).all():
        raise SimkitError("values must be a non-empty sequence of finite numbers")
    mean = float(x.mean())
    if x.size < 2 or np.ptp(x) == 0.0:
        return mean, mean, mean
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                res = stats.bootstrap(
                    (x,),
                    np.mean,
                    n_resamples=n_resamples,
                    confidence_level=confidence,
                    method=method,
                    rng=np.random.default_rng(seed),
                )
            except (Warning, ValueError):
                continue
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if np.isfinite(low) and np.isfinite(high):
            return mean, min(low, mean), max(high, mean)
    return mean, mean, mean  # pragma: no cover - percentile is always defined


def _numeric_columns(kpis: pd.DataFrame) -> list[str]:
    skip = {"scenario", "replication", "seed"}
    return [c for c in kpis.columns if c not in skip and pd.api.types.is_numeric_dtype(kpis[c])]


def summarize(
    kpis: pd.DataFrame, confidence: float = 0.95, *, n_resamples: int = N_RESAMPLES, seed: int = 0
) -> pd.DataFrame:
    """Mean and bootstrap confidence interval of every numeric KPI per scenario.

    Parameters
    ----------
    kpis : pandas.DataFrame
        Rows of :func:`simkit.analysis.kpis` (one per replication), possibly of
        several scenarios, with a ``scenario`` column.
    confidence : float
        Confidence level of the interval [-].
    n_resamples, seed : int
        Bootstrap resamples and seed (see :func:`bootstrap_ci`).

    Returns
    -------
    pandas.DataFrame
        Index (scenario, kpi); columns ``mean``, ``ci_low``, ``ci_high``, ``n``.
    """
    if "scenario" not in kpis.columns:
        raise SimkitError(f"kpis needs a 'scenario' column; found {list(kpis.columns)}")
    rows = []
    numeric = _numeric_columns(kpis)
    for scenario, group in kpis.groupby("scenario", sort=False):
        for kpi in numeric:
            mean, low, high = bootstrap_ci(
                group[kpi].to_numpy(dtype=float), confidence, n_resamples=n_resamples, seed=seed
            )
            rows.append((scenario, kpi, mean, low, high, len(group)))
    frame = pd.DataFrame(rows, columns=["scenario", "kpi", "mean", "ci_low", "ci_high", "n"])
    return frame.set_index(["scenario", "kpi"])


def significance_test(
    x: np.ndarray, y: np.ndarray, *, paired: bool, family: str = "rank"
) -> tuple[str, float, float]:
    """Two-sided test of "no difference" between two samples of replications.

    Parameters
    ----------
    x, y : numpy.ndarray
        Values of one KPI per replication; with ``paired`` they must have the
        same length and replication ``i`` of ``x`` pairs with replication ``i`` of ``y``.
    paired : bool
        Runs share random numbers replication by replication (same seed).
    family : {"rank", "t"}
        Rank tests (Wilcoxon signed-rank / Mann-Whitney U) or t tests (paired t / Welch).

    Returns
    -------
    tuple
        ``(test name, statistic, p value)``.  Degenerate samples (all
        differences zero, or constant samples) give ``p = 1`` when equal and
        ``p = 0`` when they differ by a constant with no spread.
    """
    if family not in ("rank", "t"):
        raise SimkitError(f"test = {family!r} is not a test family; allowed: 'rank', 't'")
    name = TESTS[(paired, family)]
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if paired:
        if x.shape != y.shape:
            raise SimkitError(
                f"a paired test needs as many replications in both runs; got {x.size} and {y.size}"
            )
        diff = x - y
        if not diff.any():
            return name, 0.0, 1.0
        if family == "t" and np.ptp(diff) == 0.0:
            return name, float(np.sign(diff[0]) * np.inf), 0.0
    elif np.ptp(x) == 0.0 and np.ptp(y) == 0.0:
        same = x[0] == y[0]
        return name, 0.0 if same else float(np.sign(x[0] - y[0]) * np.inf), 1.0 if same else 0.0
    if min(x.size, y.size) < 2:
        return name, float("nan"), float("nan")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # scipy warns about precision on nearly constant samples; the p value stands.
        warnings.simplefilter("ignore", RuntimeWarning)
        if paired and family == "rank":
            res = stats.wilcoxon(x, y)
        elif paired:
            res = stats.ttest_rel(x, y)
        elif family == "rank":
            res = stats.mannwhitneyu(x, y, alternative="two-sided")
        else:
            res = stats.ttest_ind(x, y, equal_var=False)
    return name, float(res.statistic), float(res.pvalue)


def _shares_random_numbers(results: Sequence[SimResult]) -> bool:
    first = results[0]
    return all(
        r.seed == first.seed
        and r.replications == first.replications
        and r.start == first.start
        and r.duration_s == first.duration_s
        for r in results
    )


def compare(
    results: Sequence[SimResult] | pd.DataFrame,
    kpis: Sequence[str] | None = None,
    *,
    baseline: str | None = None,
    paired: bool | None = None,
    test: str = "rank",
    confidence: float = 0.95,
    alpha: float = 0.05,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    intervals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Mean, bootstrap CI and a significance test against a baseline, per scenario x KPI.

    Parameters
    ----------
    results : sequence of SimResult, or pandas.DataFrame
        Simulation results (KPIs from :func:`simkit.analysis.kpis`
        are added), or a KPI frame with ``scenario`` and ``replication`` columns
        (e.g. a saved ``kpis.csv``).
    kpis : sequence of str, optional
        KPIs to compare; default every numeric column.
    baseline : str, optional
        Scenario the others are tested against; default the first.
    paired : bool, optional
        Whether replication ``i`` of every scenario shares random numbers.  Default:
        inferred for results (same seed, replications, start and duration);
        ``False`` for a frame unless its ``seed`` column is one value.
    test : {"rank", "t"}
        Rank tests (Wilcoxon signed-rank when paired, Mann-Whitney U otherwise) or
        t tests (paired t, Welch t).
    confidence : float
        Level of the bootstrap intervals [-].
    alpha : float
        Significance level of the ``significant`` column [-].
    n_resamples, seed : int
        Bootstrap resamples and seed.
    intervals : pandas.DataFrame, optional
        The means and intervals computed already by :func:`summarize` of these KPIs
        with the same ``confidence``, ``n_resamples`` and ``seed`` (e.g. scenario by
        scenario in worker processes), rows in replication order as
        :func:`simkit.analysis.kpi_frame` gives them: the bootstrap is not repeated.

    Returns
    -------
    pandas.DataFrame
        Index (scenario, kpi); columns ``n``, ``mean``, ``ci_low``, ``ci_high``,
        ``baseline``, ``difference`` (mean minus the baseline's mean), ``test``,
        ``statistic``, ``p_value`` and ``significant`` (``p_value < alpha``); the
        baseline's own rows have no test.
    """
    alpha = _check_level("alpha", alpha)
    if isinstance(results, pd.DataFrame):
        frame = results.reset_index() if "scenario" not in results.columns else results
        if "scenario" not in frame.columns:
            raise SimkitError(f"the KPI frame needs a 'scenario' column; found {list(frame)}")
        if paired is None:
            paired = "seed" in frame.columns and frame["seed"].nunique() == 1
    else:
        results = list(results)
        frame = kpi_frame(results)
        shared = _shares_random_numbers(results)
        if paired is None:
            paired = shared
        elif paired and not shared:
            raise SimkitError(
                "paired = True needs runs with the same seed, replications, start and duration"
            )
    if "replication" not in frame.columns:
        frame = frame.assign(replication=frame.groupby("scenario").cumcount())
    names = list(dict.fromkeys(frame["scenario"]))
    if baseline is None:
        baseline = names[0]
    if baseline not in names:
        raise SimkitError(f"baseline = {baseline!r} is not a scenario; choose one of {names}")
    available = _numeric_columns(frame)
    chosen = available if kpis is None else list(kpis)
    unknown = [k for k in chosen if k not in available]
    if unknown:
        raise SimkitError(f"kpis = {unknown} are not KPI columns; allowed: {available}")
    by_name = {n: g.sort_values("replication") for n, g in frame.groupby("scenario", sort=False)}
    base = by_name[baseline]
    rows = []
    for name in names:
        group = by_name[name]
        for kpi in chosen:
            values = group[kpi].to_numpy(dtype=float)
            if intervals is None:
                mean, low, high = bootstrap_ci(
                    values, confidence, n_resamples=n_resamples, seed=seed
                )
            else:
                mean, low, high = intervals.loc[(name, kpi), ["mean", "ci_low", "ci_high"]]
            row = {"scenario": name, "kpi": kpi, "n": len(values), "mean": mean}
            row.update(ci_low=low, ci_high=high, baseline=baseline)
            row["difference"] = mean - float(base[kpi].mean())
            if name == baseline:
                row.update(test="", statistic=np.nan, p_value=np.nan, significant=False)
            else:
                label, statistic, p_value = significance_test(
                    values, base[kpi].to_numpy(dtype=float), paired=paired, family=test
                )
                row.update(test=label, statistic=statistic, p_value=p_value)
                row["significant"] = bool(p_value < alpha)
            rows.append(row)
    return pd.DataFrame(rows).set_index(["scenario", "kpi"])
