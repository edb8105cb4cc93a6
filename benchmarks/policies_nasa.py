"""Reactive, predictive and learned scaling on the NASA-HTTP 1995 trace: SLO and cost.

Prints figures; nothing here is asserted.  Run with
``python benchmarks/policies_nasa.py [--replications 16]``.

The unbroken July stretch of ``../shared/traces/nasa_http_1995_1min.csv``
(1995-07-01T04:00Z .. 07-28T17:31Z; skipped with a message when the file is
absent) is replayed through the production profile (deployments off, to isolate
scaling) from 1995-07-02T00:00Z for 26 days at a 15 s step, with the reactive
HPA alone, the predictive floor (``forecasting.enabled = true``) and the learned
floor (the profile's ``[learned]`` values, trained on synthetic traffic only by
``benchmarks/train_learned_policy.py``).  Every policy runs with the same seed,
so replication ``r`` of every policy shares its random numbers (paired runs):
the table gives the mean per policy and the mean paired difference to reactive
with a 95 % t confidence interval over replications.

Two settings: the profile as shipped (trace scaled to a 250 req/s peak) and a
stressed one (600 req/s peak, HPA target 90 % CPU, 120 s start-up, at most 40
pods, no crashes).  The last line of each table counts the minutes whose offered
rate exceeds the database replica's read capacity: no app-tier policy can keep
the SLO there.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

import simkit
from simkit.autoscaling import POLICIES
from simkit.database import DB_SERVERS_PER_NODE

NASA = Path(__file__).resolve().parents[2] / "shared" / "traces" / "nasa_http_1995_1min.csv"
STRETCH = ("1995-07-01T04:00Z", "1995-07-28T17:31Z")
START = "1995-07-02T00:00Z"
DURATION = "26D"
METRICS = ("slo_minutes_violated", "instance_hours", "latency_p99_s")
SETTINGS = {
    "shipped (peak 250 req/s)": (250.0, {}),
    "stressed (peak 600 req/s, 90 % CPU, 120 s start-up, max 40, no crashes)": (
        600.0,
        {
            "autoscaling__target_cpu_utilization_percent": 90,
            "autoscaling__startup_s": 120.0,
            "autoscaling__max_replicas": 40,
            "failures__instance_mtbf_h": 1e6,
        },
    ),
}


def nasa_counts() -> pd.Series:
    """Requests per minute of the unbroken July stretch (a Series; the file is not copied)."""
    frame = pd.read_csv(NASA)
    counts = pd.Series(
        frame["value"].to_numpy(dtype=float), index=pd.to_datetime(frame["timestamp"], utc=True)
    )
    return counts[STRETCH[0] : STRETCH[1]]


def policies(base: simkit.Scenario) -> dict[str, simkit.Scenario]:
    """``base`` under every autoscaled policy of :data:`simkit.autoscaling.POLICIES`."""
    return {name: p.configure(base) for name, p in POLICIES.items() if p.autoscaled}


def paired_ci(diff: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of paired differences and its t confidence interval."""
    n = diff.size
    mean = float(diff.mean())
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * diff.std(ddof=1) / np.sqrt(n))
    return mean, mean - half, mean + half


def db_read_capacity_rps(scenario: simkit.Scenario) -> float:
    """Request rate at which the read replicas saturate [1/s] (primary-replica topology)."""
    db = scenario.database
    replicas = max(db.nodes - 1, 1)
    reads_per_request = db.queries_per_request * db.read_fraction
    return replicas * DB_SERVERS_PER_NODE / (db.query_time_ms * 1e-3) / reads_per_request


def evaluate(trace: pd.Series, base: simkit.Scenario, replications: int, seed: int) -> pd.DataFrame:
    kpis = {}
    for name, scenario in policies(base).items():
        t0 = time.perf_counter()
        result = simkit.simulate(
            scenario,
            duration=DURATION,
            step="15s",
            replications=replications,
            seed=seed,
            trace=trace,
            start=START,
        )
        kpis[name] = simkit.kpis(result)
        print(f"  {name}: {time.perf_counter() - t0:.1f} s", flush=True)
    rows = []
    for name, frame in kpis.items():
        row: dict[str, object] = {"policy": name}
        for metric in METRICS:
            values = frame[metric].to_numpy(dtype=float)
            row[metric] = values.mean()
            if name != "reactive":
                diff = values - kpis["reactive"][metric].to_numpy(dtype=float)
                mean, lo, hi = paired_ci(diff)
                row[f"d_{metric}"] = f"{mean:+.3f} [{lo:+.3f}, {hi:+.3f}]"
            else:
                row[f"d_{metric}"] = "-"
        rows.append(row)
    return pd.DataFrame(rows).set_index("policy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not NASA.exists():
        print(f"NASA trace not found at {NASA}; nothing to evaluate")
        return
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 40)
    pd.set_option("display.float_format", "{:.3f}".format)
    counts = nasa_counts()
    production = simkit.load_scenario("production").replace(deployment__deploys_per_day=0.0)
    print(f"learned policy parameters (production profile): {production.learned}")
    for label, (peak_rps, changes) in SETTINGS.items():
        trace = simkit.read_trace(counts, peak_rps=peak_rps)
        base = production.replace(**changes)
        print(f"\n== {label}: {args.replications} replications, seed {args.seed}, {DURATION}")
        table = evaluate(trace, base, args.replications, args.seed)
        print(
            "mean per policy; d_* = policy - reactive, paired by replication, "
            "mean [95 % t CI]  (SLO minutes [min], instance-hours [h], run p99 [s])"
        )
        print(table.to_string())
        window = trace[START : pd.Timestamp(START) + pd.Timedelta(DURATION)]
        cap = db_read_capacity_rps(base)
        print(
            f"minutes with offered rate above the database read capacity ({cap:.0f} req/s): "
            f"{int((window > cap).sum())}"
        )


if __name__ == "__main__":
    main()
