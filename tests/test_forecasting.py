"""Forecasters: exactness on periodic series, O(1) updates equal batch recomputation,
recovery of a known daily + weekly seasonality, and one-line errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest

from simkit.errors import SimkitError
from simkit.forecasting import Forecast, HoltWinters, Persistence, ProfileLevel, SeasonalNaive
from simkit.forecasting.profile import _circular_mean

DAY = 1440
WEEK = 7 * DAY


def seasonal_series(n: int, noise_sd: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Known signal: level 100, daily sine (amplitude 30), weekly sine (amplitude 10)."""
    t = np.arange(n)
    signal = 100.0 + 30.0 * np.sin(2 * np.pi * t / DAY) + 10.0 * np.sin(2 * np.pi * t / WEEK)
    noise = np.random.default_rng(seed).normal(0.0, noise_sd, n)
    return signal + noise, signal


def test_seasonal_naive_is_exact_on_a_periodic_series():
    period = 24
    pattern = np.random.default_rng(1).uniform(0, 50, period)
    series = np.tile(pattern, 10)
    model = SeasonalNaive(period).fit(series[:100], step_s=60.0)
    # horizon longer than the period: the pattern repeats
    np.testing.assert_array_equal(model.predict(60).mean, series[100:160])
    model.update(series[100:137])
    np.testing.assert_array_equal(model.predict(50).mean, series[137:187])
    assert model.predict(5).lower[0] == model.predict(5).mean[0]  # zero residuals


def test_persistence_update_equals_mean_from_scratch():
    rng = np.random.default_rng(2)
    series = rng.gamma(2.0, 20.0, 500)
    model = Persistence(15).fit(series[:40])
    for t in range(40, 500):  # crosses many ring wraps
        model.update(series[t])
        expected = series[t - 14 : t + 1].mean()
        assert model.predict(3).mean == pytest.approx(np.full(3, expected), rel=1e-12)
    # a batch update lands in the same state
    batch = Persistence(15).fit(series[:40]).update(series[40:])
    np.testing.assert_allclose(batch.predict(4).mean, model.predict(4).mean, rtol=1e-12)


@pytest.mark.parametrize("seasonality", ["additive", "multiplicative"])
def test_holt_winters_update_equals_batch_recursion(seasonality):
    series, _ = seasonal_series(3 * WEEK, noise_sd=3.0, seed=3)
    fitted = HoltWinters(seasonality=seasonality).fit(series[: 2 * WEEK + 500])
    params = fitted.params_
    fixed = HoltWinters(
        seasonality=seasonality,
        alpha=params["alpha"],
        gammas=(params["gamma_1440"], params["gamma_10080"]),
        phi=params["phi"],
    )
    online = fitted.update(series[2 * WEEK + 500 :])
    batch = fixed.fit(series)  # fixed parameters: only the recursion runs
    np.testing.assert_allclose(online.predict(90).mean, batch.predict(90).mean, rtol=1e-8)


def test_holt_winters_recovers_known_daily_and_weekly_seasonality():
    noise_sd = 2.0
    series, signal = seasonal_series(4 * WEEK, noise_sd=noise_sd, seed=4)
    train = 3 * WEEK
    model = HoltWinters().fit(series[:train])
    errors = []
    last = train
    for origin in range(train, 4 * WEEK - 60, 97):
        if origin > last:
            model.update(series[last:origin])
        last = origin
        errors.append(model.predict(60).mean[[9, 59]] - signal[origin + np.array([9, 59])])
    rmse = np.sqrt(np.mean(np.square(errors)))
    # Reference: the noise s.d. (2.0); a forecast of the signal cannot beat 0 and
    # a model that had not recovered the seasonality would be off by ~10-30.
    assert rmse < 0.75 * noise_sd


def test_profile_level_tracks_a_level_shift_and_keeps_its_smoothed_profiles():
    series, signal = seasonal_series(3 * WEEK, noise_sd=2.0, seed=5)
    series[2 * WEEK + 300 :] *= 1.3  # the audience grows by 30 %
    # alpha fixed: fitted on a history without level shifts, alpha would be ~0
    model = ProfileLevel(alpha=0.05).fit(series[: 2 * WEEK])
    model.update(series[2 * WEEK : 2 * WEEK + 900])
    forecast = model.predict(60).mean
    truth = 1.3 * signal[2 * WEEK + 900 : 2 * WEEK + 960]
    assert np.mean(np.abs(forecast / truth - 1.0)) < 0.03
    # the O(1) nudges keep each smoothed profile the moving average of its raw one
    np.testing.assert_allclose(model._day, _circular_mean(model._day_raw, 121), rtol=1e-9)
    np.testing.assert_allclose(model._week, _circular_mean(model._week_raw, 361), rtol=1e-9)


class _ProfileEveryEvaluation(ProfileLevel):
    """The fit as it was: profile and level recomputed at every evaluation and calibration."""

    def _levels(self, history, alpha, ratio=None):
        return super()._levels(history, alpha)

    def _replay(self, history, horizon_steps):
        self._fit_run = None
        return super()._replay(history, horizon_steps)


@pytest.mark.parametrize("weekly", [True, False])
def test_profile_level_computes_its_profile_once_per_fit_with_the_same_bits(weekly, monkeypatch):
    series, _ = seasonal_series(2 * WEEK + 123, noise_sd=4.0, seed=7)
    reference = _ProfileEveryEvaluation(weekly=weekly).fit(series)
    calls = []
    original = ProfileLevel._profile_at
    monkeypatch.setattr(
        ProfileLevel, "_profile_at", lambda self, t: calls.append(t.size) or original(self, t)
    )
    model = ProfileLevel(weekly=weekly).fit(series)
    assert calls == [series.size]  # one profile for the fit, not one per evaluation
    monkeypatch.undo()
    assert model.params_ == reference.params_
    new, old = model.predict(90), reference.predict(90)
    for name in ("mean", "lower", "upper"):  # the intervals come from the calibration
        np.testing.assert_array_equal(getattr(new, name), getattr(old, name))
    np.testing.assert_array_equal(model.replay(series, 30), reference.replay(series, 30))
    model.update(series[-500:])
    reference.update(series[-500:])
    np.testing.assert_array_equal(model.predict(60).mean, reference.predict(60).mean)


@pytest.mark.parametrize(
    "model",
    [Persistence(15), SeasonalNaive(DAY), HoltWinters(), ProfileLevel()],
    ids=lambda m: m.name,
)
def test_forecast_shape_interval_and_coverage(model):
    series, _ = seasonal_series(4 * WEEK, noise_sd=3.0, seed=6)
    model.fit(series[: 3 * WEEK])
    forecast = model.predict(30)
    assert isinstance(forecast, Forecast)
    assert forecast.horizon_steps == 30 and forecast.level == 0.8 and forecast.step_s == 60.0
    assert np.all(forecast.lower <= forecast.mean) and np.all(forecast.mean <= forecast.upper)
    assert not forecast.mean.flags.writeable
    hits = []
    for origin in range(3 * WEEK, 4 * WEEK - 10, 10):
        if origin > 3 * WEEK:
            model.update(series[origin - 10 : origin])
        fc = model.predict(10)
        hits.append((series[origin + 9] >= fc.lower[9]) & (series[origin + 9] <= fc.upper[9]))
    # nominal 80 %; 1007 origins, binomial s.d. 1.3 %; allow for calibration error
    assert 0.72 <= np.mean(hits) <= 0.88


@pytest.mark.parametrize(
    ("history", "fragment"),
    [
        ([], "history has 0 points; allowed: at least 15"),
        ([1.0] * 10 + [np.nan] * 10, "history[10] = nan; allowed: finite numbers >= 0"),
        ([1.0] * 20 + [-2.0], "history[20] = -2; allowed: finite numbers >= 0"),
        (np.ones((20, 2)), "history must be 1-D; got shape (20, 2)"),
        (["a"] * 20, "history must be a 1-D array of numbers"),
    ],
)
def test_bad_history_raises_one_line_error(history, fragment):
    with pytest.raises(SimkitError) as info:
        Persistence(15).fit(history)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_holt_winters_needs_two_weeks_or_daily_only():
    series, _ = seasonal_series(10 * DAY, noise_sd=1.0)
    with pytest.raises(SimkitError, match=r"history has 14400 points; allowed: at least 20160"):
        HoltWinters().fit(series)
    model = HoltWinters(periods_steps=(DAY,)).fit(series)  # the explicit daily-only choice
    assert model.predict(10).mean.shape == (10,)
    with pytest.raises(SimkitError, match="at least 10080"):
        ProfileLevel().fit(series[: 5 * DAY])
    assert ProfileLevel(weekly=False).fit(series[: 2 * DAY]).predict(5).mean.shape == (5,)


@pytest.mark.parametrize("horizon", [0, -3, 1.5, True, "10"])
def test_bad_horizon_raises(horizon):
    model = Persistence(5).fit(np.ones(50))
    with pytest.raises(SimkitError, match=r"horizon_steps = .*; allowed: an integer >= 1"):
        model.predict(horizon)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: Persistence(0), "window_steps = 0; allowed: an integer >= 1"),
        (lambda: SeasonalNaive(2.5), "period_steps = 2.5"),
        (lambda: HoltWinters(periods_steps=(1000, 1440)), "each dividing the longest"),
        (lambda: HoltWinters(seasonality="log"), "seasonality = 'log'"),
        (lambda: HoltWinters(alpha=1.5), "alpha = 1.5; allowed: a number in [0, 1]"),
        (lambda: Persistence(5, interval_level=1.0), "interval_level = 1.0"),
        (lambda: ProfileLevel(alpha=0.0), "alpha = 0.0; allowed: a number in (0, 1]"),
    ],
)
def test_bad_parameters_raise(make, fragment):
    with pytest.raises(SimkitError) as info:
        make()
    assert fragment in str(info.value)


def test_predict_and_update_before_fit_and_bad_updates():
    with pytest.raises(SimkitError, match="not fitted"):
        Persistence(5).predict(3)
    model = Persistence(5).fit(np.ones(50))
    with pytest.raises(SimkitError, match=r"new_points\[1\] = nan"):
        model.update([1.0, np.nan])
    with pytest.raises(SimkitError, match=r"new_points has 0 points"):
        model.update([])
    with pytest.raises(SimkitError, match="step_s = 0"):
        Persistence(5).fit(np.ones(50), step_s=0)
