"""Exact response-time quantiles of the reference transient scenarios (simkit.transient).

Prints, for each scenario, the whole-run p50/p95/p99 of all accepted arrivals, the
per-minute quantiles of the arrivals in each minute, the capacity K used with the
resulting blocking and truncation figures, and the solve time on one core (BLAS threads
limited to 1, the process pinned to one CPU where the OS allows it).  Nothing is asserted.

Scenarios (mu = 10/s per server, FCFS, no timeouts, start empty, 60 minutes):

* S1: c = 8, lambda(t) = 60 + 15 sin(2 pi t / 600) on 1 s pieces (value at the piece
  midpoint, as the simulator's per-second trace);
* S2 flash crowd: c = 8, lambda = 56/s for 20 min, 104/s for 5 min, 56/s for 35 min;
* S3 instance loss: lambda = 112/s, c = 16, 8 servers down from minute 20 to minute 30;
* steady: c = 8 at utilization 0.5, 0.8, 0.95, 0.995 and c = 50 at lambda = 450 (from
  empty, so the first minutes are transient; the stationary M/M/c quantiles are printed
  beside them).

Capacity K: the fluid backlog peak B (integral of lambda - c mu while positive), plus 20
standard deviations of the net count over the overloaded stretch
(``sigma^2 = int (lambda + c mu) dt``), plus the geometric stationary tail of the most
loaded stable piece (``c + ln 1e-25 / ln rho``); the solver then reports the largest
P(n = K) it met and the blocked fraction of each window, both far below 1e-12 (0 means
below the 1e-20 truncation level: those states never carried mass).

Usage: ``python benchmarks/transient_reference.py [--minutes all|events]``.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simkit import queueing  # noqa: E402
from simkit.transient import PiecewiseQueue, response_time_quantiles  # noqa: E402

MU = 10.0
HORIZON_S = 3600.0
Q = np.array([0.5, 0.95, 0.99])
#: Minutes printed one per line with --minutes events (first, last inclusive).
EVENT_MINUTES = {"S2": (18, 34), "S3": (18, 38)}


def capacity_for(breaks: np.ndarray, rate: np.ndarray, servers: np.ndarray) -> int:
    """K from the fluid peak, 20 sigma of the overload and the stationary tail."""
    ends = np.append(breaks[1:], HORIZON_S)
    backlog = peak = var = peak_var = 0.0
    tail = 0.0
    for a, b, lam, c in zip(breaks, ends, rate, servers, strict=True):
        cap_rate = c * MU
        drift = lam - cap_rate
        if drift > 0 or backlog > 0:
            var += (lam + cap_rate) * (b - a)
        backlog = max(0.0, backlog + drift * (b - a))
        if backlog == 0.0:
            var = 0.0
        if backlog > peak:
            peak, peak_var = backlog, var
        if 0 < lam < cap_rate:
            rho = lam / cap_rate
            tail = max(tail, c + math.log(1e-25) / math.log(rho))
    return math.ceil(peak + 20.0 * math.sqrt(peak_var) + tail) + 100


def scenarios() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    t = np.arange(3600.0)
    return {
        "S1": (t, 60.0 + 15.0 * np.sin(2 * np.pi * (t + 0.5) / 600.0), np.full(t.size, 8)),
        "S2": (np.array([0.0, 1200.0, 1500.0]), np.array([56.0, 104.0, 56.0]), np.full(3, 8)),
        "S3": (np.array([0.0, 1200.0, 1800.0]), np.full(3, 112.0), np.array([16, 8, 16])),
        "steady c=8 rho=0.5": (np.zeros(1), np.array([40.0]), np.array([8])),
        "steady c=8 rho=0.8": (np.zeros(1), np.array([64.0]), np.array([8])),
        "steady c=8 rho=0.95": (np.zeros(1), np.array([76.0]), np.array([8])),
        "steady c=8 rho=0.995": (np.zeros(1), np.array([79.6]), np.array([8])),
        "steady c=50 lambda=450": (np.zeros(1), np.array([450.0]), np.array([50])),
    }


def fmt(values: np.ndarray) -> str:
    return " ".join(f"{v:9.4f}" for v in values)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", choices=["all", "events"], default="events")
    args = parser.parse_args(argv)
    with contextlib.suppress(AttributeError, OSError):  # one CPU where the OS allows it
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    starts = np.arange(0.0, HORIZON_S, 60.0)
    windows = np.vstack([np.column_stack([starts, starts + 60.0]), [[0.0, HORIZON_S]]])
    total = 0.0
    for name, (breaks, rate, servers) in scenarios().items():
        cap = capacity_for(breaks, rate, servers)
        queue = PiecewiseQueue(breaks, rate, servers, MU, cap, HORIZON_S)
        t0 = time.perf_counter()
        quant, info = response_time_quantiles(queue, windows, Q, full_output=True)
        elapsed = time.perf_counter() - t0
        total += elapsed
        print(f"== {name}: solved in {elapsed:.1f} s (K = {cap})")
        print(
            f"   max P(n = K) {info.max_full_probability:.1e}, max blocked fraction "
            f"{info.blocking.max():.1e}, truncated mass {info.truncated_mass:.1e}, "
            f"1 - sum p(end) {info.mass_defect:.1e}, panels {info.panels} "
            f"(unresolved {info.unresolved_panels})"
        )
        print(f"   whole run   p50/p95/p99 [s]: {fmt(quant[-1])}")
        if name.startswith("steady"):
            lam, c = float(rate[0]), int(servers[0])
            ref = queueing.response_time_quantile(Q, c, lam, MU)
            print(f"   stationary  p50/p95/p99 [s]: {fmt(ref)}")
        per_minute = quant[:-1]
        first, last = EVENT_MINUTES.get(name, (60, -1))
        if args.minutes == "all":
            first, last = 0, 59
        for m in range(first, last + 1):
            print(f"   minute {m:2d}   p50/p95/p99 [s]: {fmt(per_minute[m])}")
        print("   per-minute p99 [s], minutes 0-59:")
        for row in range(0, 60, 10):
            print(
                f"     {row:2d}-{row + 9:2d}: "
                + " ".join(f"{v:.4g}" for v in per_minute[row : row + 10, 2])
            )
    print(f"== total solve time {total:.1f} s")


if __name__ == "__main__":
    main()
