"""Engine throughput: replica-steps per second for one week of production at 1 s steps.

Prints figures; nothing here is asserted.  Run with ``make bench`` or
``python benchmarks/engine.py [--replications 32] [--duration 7D] [--profile production]
[--engine numba]``.

Measured on one core (the process is pinned to one CPU where the OS allows it),
after one small warm-up run.  Alongside the engine it measures this machine's
``np.add`` throughput on large float64 arrays, so figures from different
machines can be compared through the ratio of the two.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np

import simkit


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def np_add_elements_per_s(n: int = 10_000_000, repeats: int = 7) -> float:
    """Best-of-``repeats`` throughput of ``np.add(a, b, out=c)`` on float64 [elements/s]."""
    a = np.random.default_rng(0).random(n)
    b = np.random.default_rng(1).random(n)
    c = np.empty_like(a)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.add(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
    return n / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="production")
    parser.add_argument("--duration", default="7D")
    parser.add_argument("--step", default="1s")
    parser.add_argument("--replications", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engine", default="numba", help="control loop: numba or numpy")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    scenario = simkit.load_scenario(args.profile)
    run = {"step": args.step, "engine": args.engine}
    simkit.simulate(scenario, duration="1h", replications=2, **run)  # warm-up (and compile)
    rss_before = _max_rss_mib()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        result = simkit.simulate(
            scenario, duration=args.duration, replications=args.replications, **run
        )
        times.append(time.perf_counter() - t0)
        replica_steps = result.replications * result.n_steps
        del result
    result = simkit.simulate(
        scenario, duration=args.duration, replications=args.replications, **run
    )
    t0 = time.perf_counter()
    simkit.kpis(result)
    kpi_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _ = result.latency_p99_s, result.errors
    materialize_s = time.perf_counter() - t0
    best = min(times)
    rate = replica_steps / best
    add_rate = np_add_elements_per_s()
    print(
        f"scenario             {args.profile}, {args.duration} at {args.step}, "
        f"{args.replications} replications ({replica_steps:,} replica-steps), "
        f"{args.engine} control loop"
    )
    print(
        f"wall time            best {best:.3f} s of {args.repeats} (all: "
        f"{', '.join(f'{t:.3f}' for t in times)})"
    )
    print(
        f"engine throughput    {rate / 1e6:.2f} M replica-steps/s (best run); "
        f"{replica_steps / times[0] / 1e6:.2f} M/s in the first (cold) run"
    )
    print(
        f"kpis()               {kpi_s:.3f} s; building the p99 and error step arrays "
        f"on first access {materialize_s:.3f} s"
    )
    print(f"peak memory (RSS)    {_max_rss_mib():.0f} MiB (before the runs: {rss_before:.0f} MiB)")
    print(f"np.add throughput    {add_rate / 1e6:.0f} M float64 elements/s")
    print(f"ratio                {rate / add_rate:.4f} replica-steps per np.add element")


if __name__ == "__main__":
    main()
