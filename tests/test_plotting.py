"""Every figure of simkit.plotting draws from small results and returns a Figure."""

from __future__ import annotations

import pytest
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
