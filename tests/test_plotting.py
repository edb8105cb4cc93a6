"""Every figure of simkit.plotting draws from small results and returns a Figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import simkit
from simkit import analysis, plotting


@pytest.fixture(scope="module")
def results() -> list[simkit.SimResult]:
    return [
        simkit.simulate(simkit.load_scenario(name), duration="1h", replications=4, seed=2)
        for name in ("production", "development")
    ]


def test_timeseries_has_load_latency_and_error_panels(results) -> None:
    fig = plotting.plot_timeseries(results[0], 0, freq="1min")
    assert isinstance(fig, Figure)
    assert [ax.get_ylabel() for ax in fig.axes[:3]] == [
        "requests / s",
        "latency [ms]",
        "errors per 1min",
    ]


def test_kpi_comparison_has_one_panel_per_kpi_with_error_bars(results) -> None:
    comparison = analysis.compare(results, n_resamples=199)
    fig = plotting.plot_kpi_comparison(comparison, ("availability", "latency_p99_s"))
    assert [ax.get_title() for ax in fig.axes] == ["availability", "latency_p99_s"]
    p99 = comparison.xs("latency_p99_s", level="kpi")["mean"]
    expected = "log" if p99.max() / p99.min() > 100 else "linear"  # log beyond two decades
    assert fig.axes[1].get_yscale() == expected
    with pytest.raises(simkit.SimkitError, match="not in the summary"):
        plotting.plot_kpi_comparison(comparison, ("nope",))


def test_latency_distribution_one_curve_per_profile(results) -> None:
    fig = plotting.plot_latency_distribution(results)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["production", "development", "SLO p99"]
    # the SLO line sits at 300 ms
    assert fig.axes[0].get_lines()[-1].get_xdata()[0] == pytest.approx(300.0)


def test_error_budget_pareto_and_capacity_figures(results) -> None:
    budgets = {r.scenario.name: analysis.error_budget(r) for r in results}
    assert len(plotting.plot_error_budget(budgets).axes[0].get_lines()) == 3  # 2 + zero line
    means = analysis.kpi_frame(results).groupby("scenario").mean(numeric_only=True).reset_index()
    assert isinstance(plotting.plot_pareto(means), Figure)
    plan = analysis.capacity_plan(
        simkit.load_scenario("production"), None, 150.0, replications=2, duration="15min"
    )
    fig = plotting.plot_capacity_plan({"production": plan})
    assert fig.axes[0].get_xlabel() == "instances"
    assert fig.axes[0].get_ylabel() == "run p99 latency [ms]"


def test_report_figures_keep_their_text_on_the_canvas(results) -> None:
    """Fixed margins (no layout engine): every label, title and legend inside the figure."""
    comparison = analysis.compare(results, n_resamples=199)
    means = analysis.kpi_frame(results).groupby("scenario").mean(numeric_only=True).reset_index()
    plan = analysis.capacity_plan(
        simkit.load_scenario("production"), None, 150.0, replications=2, duration="15min"
    )
    figures = [
        plotting.plot_timeseries(results[1], 0, freq="1min"),
        plotting.plot_kpi_comparison(
            comparison, ("slo_good_minutes_fraction", "availability", "latency_p99_s", "cost_usd")
        ),
        plotting.plot_latency_distribution(results),
        plotting.plot_error_budget({r.scenario.name: analysis.error_budget(r) for r in results}),
        plotting.plot_pareto(means),
        plotting.plot_capacity_plan({"production": plan}),
    ]
    for fig in figures:
        renderer = FigureCanvasAgg(fig).get_renderer()
        box = fig.get_tightbbox(renderer)  # [in]
        width, height = fig.get_size_inches()
        assert box.x0 >= -0.01 and box.y0 >= -0.01, box
        assert box.x1 <= width + 0.01 and box.y1 <= height + 0.01, box


def _spiky(n: int, seed: int) -> np.ndarray:
    y = np.random.default_rng(seed).normal(100.0, 5.0, n)
    y[n // 3] = 1e4  # one spike and one dip the eye must still see
    y[2 * n // 3] = -50.0
    return y


@pytest.mark.parametrize(
    ("x", "log_x", "max_points"),
    [
        (np.arange(200_000) * 1.0, False, 4000),
        (pd.date_range("2024-01-01", periods=100_003, freq="1s", tz="UTC"), False, 1000),
        (np.sort(np.random.default_rng(3).lognormal(0.0, 2.0, 150_000)), True, 4000),
        (np.random.default_rng(4).random(50_000), False, 500),  # unordered x: index buckets
    ],
    ids=["linear", "datetime", "log-x", "unordered"],
)
def test_decimate_keeps_extremes_and_ends_within_the_budget(x, log_x, max_points) -> None:
    y = _spiky(len(x), seed=1)
    z = np.cos(np.arange(len(x)) / 500.0)
    z[1000:1100] = np.nan  # a gap
    keep = plotting.decimate(x, y, z, max_points=max_points, log_x=log_x)
    assert keep.size <= max_points and np.all(np.diff(keep) > 0)
    assert keep[0] == 0 and keep[-1] == len(x) - 1
    for series in (y, z):
        assert np.nanmax(series[keep]) == np.nanmax(series)
        assert np.nanmin(series[keep]) == np.nanmin(series)
    assert np.isnan(z[keep]).any()  # the gap stays a gap
    short = plotting.decimate(x[:max_points], y[:max_points], max_points=max_points)
    np.testing.assert_array_equal(short, np.arange(max_points))  # short lines stay whole


def test_decimate_rejects_a_budget_too_small() -> None:
    with pytest.raises(simkit.SimkitError, match="max_points = 1; allowed: an integer >= 2"):
        plotting.decimate(np.arange(10), np.arange(10), max_points=1)
    with pytest.raises(simkit.SimkitError, match="too few for 3 series"):
        plotting.decimate(np.arange(100), *np.ones((3, 100)), max_points=5)


def test_dense_charts_draw_at_most_max_line_points() -> None:
    n = 300_000  # minutes pooled over replications, as in a week x 32 replications
    p99 = {name: np.random.default_rng(i).lognormal(-3.0, 0.5, n) for i, name in enumerate("ab")}
    p99["a"][123] = 40.0  # the worst minute must stay on the chart
    fig = plotting.plot_latency_distribution(p99, 0.3)
    curves = fig.axes[0].get_lines()[:2]
    for line, values in zip(curves, p99.values(), strict=True):
        x, share = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
        assert x.size <= plotting.MAX_LINE_POINTS
        # first and last points of the full curve: the best minute at share 1 - 1/n,
        # and the worst minute but one at share 1/n (the last one has share 0)
        assert x[0] == np.min(values) * 1e3 and share[0] == 1.0 - 1.0 / n
        assert x[-1] == np.sort(values)[-2] * 1e3 and share[-1] == pytest.approx(1.0 / n)
    minutes = pd.date_range("2024-01-01", periods=20_160, freq="1min", tz="UTC")
    budget = pd.DataFrame(np.random.default_rng(5).normal(0.5, 0.1, (minutes.size, 8)), minutes)
    budget.iloc[5000, :] = -3.0  # an overspent minute in every replication
    ax = plotting.plot_error_budget({"a": budget}).axes[0]
    median = ax.get_lines()[0]
    assert len(median.get_xdata()) <= plotting.MAX_LINE_POINTS
    assert np.min(median.get_ydata()) == pytest.approx(-300.0)
