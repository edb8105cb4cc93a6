"""Forecasters on the NASA trace and a synthetic series: backtest table and decision time.

Prints figures; nothing here is asserted.  Run with
``python benchmarks/forecasting.py [--origin-every 10]``.

1. Rolling-origin backtest (fit on 14 days, test on the following 7 days,
   origins every ``--origin-every`` minutes, ``update()`` between origins, no
   refit) at 5, 10 and 60 minutes: MAE [requests/min], sMAPE [%] and coverage
   of the central 80 % interval, on both unbroken NASA stretches (skipped when
   ``../shared/traces/nasa_http_1995_1min.csv`` is absent) and on a synthetic
   series with known daily + weekly seasonality.
2. Per-decision inference time of each forecaster: ``update`` one point then
   ``predict(10)`` — median and p99 over many decisions [ms]; and of each
   scaling policy (HPA reconcile, predictive floor, learned floor).
3. Anomaly detection on injected faults: precision, recall, detection delay.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

import simkit
from simkit.anomaly import detect_anomalies, evaluate_detection, inject_faults
from simkit.forecasting import HoltWinters, Persistence, ProfileLevel, SeasonalNaive
from simkit.forecasting.backtest import rolling_origin_backtest
from simkit.workload import noise_factor

NASA = Path(__file__).resolve().parents[2] / "shared" / "traces" / "nasa_http_1995_1min.csv"
DAY = 1440
STRETCHES = {
    "NASA Aug 1995": ("1995-08-03T08:37Z", "1995-09-01T03:59Z"),
    "NASA Jul 1995": ("1995-07-01T04:00Z", "1995-07-28T17:31Z"),
}


def forecasters() -> list:
    return [
        Persistence(15),
        SeasonalNaive(DAY),
        SeasonalNaive(7 * DAY),
        HoltWinters(),
        HoltWinters(seasonality="multiplicative"),
        ProfileLevel(),
    ]


def nasa_series() -> dict[str, np.ndarray]:
    frame = pd.read_csv(NASA)
    counts = pd.Series(
        frame["value"].to_numpy(dtype=float), index=pd.to_datetime(frame["timestamp"], utc=True)
    )
    return {
        name: simkit.read_trace(counts[start:stop], per_interval=False).to_numpy()
        for name, (start, stop) in STRETCHES.items()
    }


def synthetic_series(seed: int = 0, days: int = 21) -> np.ndarray:
    """Poisson counts/min around 40 x (1 + 0.5 cos daily) x weekend 0.6, 10 % AR noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * DAY)
    weekend = ((t // DAY) % 7) >= 5
    mean = 40.0 * (1.0 + 0.5 * np.cos(2 * np.pi * t / DAY)) * np.where(weekend, 0.6, 1.0)
    mean *= noise_factor(rng, t.size, 60.0, 0.1, 600.0)
    return rng.poisson(mean).astype(float)


def backtest(series: np.ndarray, every: int) -> pd.DataFrame:
    series = series[-21 * DAY :]
    table = rolling_origin_backtest(
        series,
        forecasters(),
        train_steps=14 * DAY,
        horizons_steps=[5, 10, 60],
        origin_every_steps=every,
    )
    return table.drop(columns=["horizon_steps", "level"])


def decision_times_ms(series: np.ndarray, decisions: int = 2000) -> pd.DataFrame:
    rows = []
    train = 14 * DAY
    for model in forecasters():
        model.fit(series[:train])
        times = np.empty(decisions)
        for i in range(decisions):
            t0 = time.perf_counter()
            model.update(series[train + i])
            model.predict(10)
            times[i] = time.perf_counter() - t0
        start = time.perf_counter()
        type(model)(**_init_kwargs(model)).fit(series[:train])
        fit_s = time.perf_counter() - start
        rows.append(
            {
                "forecaster": model.name,
                "median_ms": 1e3 * np.median(times),
                "p99_ms": 1e3 * np.quantile(times, 0.99),
                "fit_14d_s": fit_s,
            }
        )
    return pd.DataFrame(rows)


def policy_decision_times_ms(decisions: int = 2000) -> pd.DataFrame:
    """Time of one scaling decision per policy [ms] (one replication, or amortised)."""
    from simkit.autoscaling.hpa_vec import HPAConfig, VectorHPA
    from simkit.autoscaling.learned import learned_floor
    from simkit.autoscaling.predictive import target_rate_per_instance_rps

    scenario = simkit.load_scenario("production")
    rows = []
    for n_rep in (1, 32):
        hpa = VectorHPA(
            HPAConfig(min_replicas=3, max_replicas=12, target_utilization_percent=60), n_rep
        )
        spec = np.full(n_rep, 3, dtype=np.int64)
        zero = np.zeros(n_rep, dtype=np.int64)
        usage = np.full(n_rep, 900, dtype=np.int64)
        times = np.empty(decisions)
        for i in range(decisions):
            t0 = time.perf_counter()
            spec = hpa.sync((i + 1) * 15.0, spec, spec, zero, usage, 500)
            times[i] = time.perf_counter() - t0
        rows.append(
            {
                "policy": f"reactive HPA sync, {n_rep} replication(s) at once",
                "median_ms": 1e3 * np.median(times),
                "p99_ms": 1e3 * np.quantile(times, 0.99),
            }
        )
    series = synthetic_series()
    model = ProfileLevel().fit(series[: 14 * DAY])
    per_instance = target_rate_per_instance_rps(scenario)
    times = np.empty(decisions)
    for i in range(decisions):
        t0 = time.perf_counter()
        model.update(series[14 * DAY + i])
        floor = int(np.ceil(model.predict(6).mean[-1] / 60.0 / per_instance))
        times[i] = time.perf_counter() - t0
    del floor
    rows.append(
        {
            "policy": "predictive: forecaster update + predict + floor",
            "median_ms": 1e3 * np.median(times),
            "p99_ms": 1e3 * np.quantile(times, 0.99),
        }
    )
    learned = scenario.replace(autoscaling__policy="learned")
    rate = np.tile(series[None, :] / 60.0, (1, 4))  # 15 s periods from the minute series
    t0 = time.perf_counter()
    learned_floor(learned, rate, 15.0)
    per = 1e3 * (time.perf_counter() - t0) / rate.shape[1]
    rows.append(
        {
            "policy": "learned floor (amortised over a whole run)",
            "median_ms": per,
            "p99_ms": float("nan"),
        }
    )
    return pd.DataFrame(rows)


def _init_kwargs(model) -> dict:
    import dataclasses

    return {f.name: getattr(model, f.name) for f in dataclasses.fields(model) if f.init}


def anomaly_scores() -> pd.DataFrame:
    rows = []
    per_day = 5760  # 15 s periods
    for magnitude in (0.5, 1.0):
        for seed in (0, 1, 2):
            rng = np.random.default_rng(seed)
            n = 14 * per_day
            t = np.arange(n)
            rate = 40.0 * (1.0 + 0.5 * np.cos(2 * np.pi * t / per_day))
            rate *= noise_factor(rng, n, 15.0, 0.1, 600.0)
            clean = rng.poisson(rate * 15.0) / 15.0
            faulty, faults = inject_faults(
                clean,
                np.random.default_rng(100 + seed),
                n_faults=20,
                magnitude=magnitude,
                duration_steps=120,
                warmup_steps=7 * per_day,
            )
            result = detect_anomalies(faulty, period_steps=per_day)
            score = evaluate_detection(result.alarm, faults, tolerance_steps=20, merge_gap_steps=20)
            rows.append(
                {"series": "engine-like 15 s", "magnitude": magnitude, "seed": seed}
                | score.__dict__
            )
    if NASA.exists():
        aug = nasa_series()["NASA Aug 1995"]
        for magnitude in (0.5, 1.0):
            faulty, faults = inject_faults(
                aug,
                np.random.default_rng(7),
                n_faults=20,
                magnitude=magnitude,
                duration_steps=30,
                warmup_steps=7 * DAY,
            )
            result = detect_anomalies(faulty, period_steps=DAY)
            score = evaluate_detection(result.alarm, faults, tolerance_steps=5, merge_gap_steps=5)
            rows.append(
                {"series": "NASA Aug 1 min", "magnitude": magnitude, "seed": 7} | score.__dict__
            )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--origin-every", type=int, default=10, help="minutes between origins")
    args = parser.parse_args()
    pd.set_option("display.width", 160)
    pd.set_option("display.float_format", "{:.3f}".format)
    sets = {"synthetic (daily+weekly, Poisson)": synthetic_series()}
    if NASA.exists():
        sets = nasa_series() | sets
    else:
        print(f"NASA trace not found at {NASA}; synthetic series only")
    for name, series in sets.items():
        print(f"\n== Backtest: {name} (fit 14 d, test 7 d, origins every {args.origin_every} min)")
        print(backtest(series, args.origin_every).to_string(index=False))
    timing_series = sets[next(iter(sets))]
    print("\n== Per-decision time: update(1 point) + predict(10 steps) [ms]")
    print(decision_times_ms(timing_series).to_string(index=False))
    print("\n== Per-decision time of the scaling policies [ms] (the architecture promises < 50)")
    print(policy_decision_times_ms().to_string(index=False))
    print("\n== Anomaly detection on injected faults (step, spike, ramp; up or down)")
    print(anomaly_scores().to_string(index=False))


if __name__ == "__main__":
    main()
