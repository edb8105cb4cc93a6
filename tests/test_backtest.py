"""Rolling-origin backtest: metric definitions by hand, information only from the past,
and on the NASA trace (skipped when absent) the chosen forecaster beats persistence(15)
and seasonal naive on sMAPE at 5, 10 and 60 minutes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import simkit
from simkit.errors import SimkitError
from simkit.forecasting import HoltWinters, Persistence, ProfileLevel, SeasonalNaive
from simkit.forecasting.backtest import rolling_origin_backtest, rolling_origin_forecasts
from simkit.forecasting.metrics import coverage, mae, smape_pct

NASA = Path(__file__).resolve().parents[2] / "shared" / "traces" / "nasa_http_1995_1min.csv"


def test_metrics_by_hand():
    # terms: 0/0 -> 0, |1-3|/(1+3) = 0.5, 0  ->  200 * 0.5 / 3
    assert smape_pct([0.0, 1.0, 2.0], [0.0, 3.0, 2.0]) == pytest.approx(100.0 / 3.0)
    assert mae([1.0, 2.0], [2.0, 4.0]) == 1.5
    assert coverage([0.0, 0.0], [1.0, 1.0], [1.0, 1.5]) == 0.5


def test_forecasts_use_only_the_past():
    series = np.random.default_rng(0).gamma(2.0, 10.0, 400)
    raw = rolling_origin_forecasts(
        series, [Persistence(1)], train_steps=100, horizons_steps=[1, 7], origin_every_steps=13
    )
    # persistence(1) forecasts the last value seen: the one just before the origin
    np.testing.assert_array_equal(raw["mean"], series[raw["origin"] - 1])
    np.testing.assert_array_equal(raw["actual"], series[raw["origin"] + raw["horizon_steps"] - 1])


def test_seasonal_naive_is_perfect_on_a_periodic_series_and_refit_works():
    series = np.tile(np.random.default_rng(1).uniform(5, 50, 48), 30)
    table = rolling_origin_backtest(
        series,
        {"sn": SeasonalNaive(48), "p": Persistence(4)},
        train_steps=200,
        horizons_steps=[1, 10],
        origin_every_steps=7,
        refit_every_steps=100,
    )
    sn = table[table["forecaster"] == "sn"]
    assert list(sn["smape_pct"]) == [0.0, 0.0] and list(sn["coverage"]) == [1.0, 1.0]
    assert (table[table["forecaster"] == "p"]["smape_pct"] > 5).all()
    assert list(table.columns) == [
        "forecaster",
        "horizon_steps",
        "horizon_min",
        "origins",
        "mae",
        "smape_pct",
        "coverage",
        "level",
    ]


def test_bad_backtest_arguments():
    with pytest.raises(SimkitError, match="leaves no origin"):
        rolling_origin_backtest(
            np.ones(100),
            [Persistence(2)],
            train_steps=95,
            horizons_steps=[10],
            origin_every_steps=1,
        )
    with pytest.raises(SimkitError, match=r"horizons_steps = 0"):
        rolling_origin_backtest(
            np.ones(100),
            [Persistence(2)],
            train_steps=10,
            horizons_steps=[0],
            origin_every_steps=1,
        )


@pytest.mark.skipif(not NASA.exists(), reason="shared NASA trace not present")
def test_profile_level_beats_baselines_on_nasa():
    frame = pd.read_csv(NASA)
    counts = pd.Series(
        frame["value"].to_numpy(dtype=float),
        index=pd.to_datetime(frame["timestamp"], utc=True),
    )["1995-08-03T08:37Z":]  # the unbroken August stretch
    series = simkit.read_trace(counts, per_interval=False).to_numpy()[-(21 * 1440) :]
    table = rolling_origin_backtest(
        series,
        [Persistence(15), SeasonalNaive(1440), SeasonalNaive(10080), HoltWinters(), ProfileLevel()],
        train_steps=14 * 1440,  # fit on 14 days, test on the last 7 days
        horizons_steps=[5, 10, 60],
        origin_every_steps=10,
    )
    smape = table.pivot(index="forecaster", columns="horizon_steps", values="smape_pct")
    # measured: profile_level 30.8 / 34.1 / 35.0, persistence(15) 31.7 / 34.6 / 38.6
    for h in (5, 10, 60):
        others = smape.drop(index="profile_level")[h]
        assert smape.loc["profile_level", h] < others.min(), smape
