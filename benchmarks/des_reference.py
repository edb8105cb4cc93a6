"""Request-level reference runs of the issue-10 scenarios: per-minute p99 with 95 % CIs.

Prints figures; nothing here is asserted. Run with
``python benchmarks/des_reference.py [--seeds 200] [--out /tmp] [--workers 2]``.

Scenarios (mu = 10/s per server, 60 min, start empty, no capacity limit unless
``--capacity K``):

* S1: c = 8, lambda(t) = 60 + 15 sin(2 pi t / 600) /s, as pieces of ``--s1-step`` s (1 s)
  whose rate is the mean of lambda(t) over the piece (the same expected count per piece);
* S2: c = 8, lambda = 56/s for 20 min, 104/s for 5 min, 56/s for 35 min;
* S3: lambda = 112/s, c = 16 with 8 down from minute 20 to 30.

Each seed is one independent replication (tests/des_reference.py): ``--engine ciw`` (the
reference, one Ciw run per seed) or ``--engine numpy`` (the vectorized uniformization engine,
seeds in batches); tasks run in a process pool. The per-minute p99 pools the responses of
arrivals in each minute over all seeds; its 95 % interval is a percentile bootstrap that
resamples seeds.

Everything needed to compare later with the exact solver is saved to
``OUT/des_reference_<engine>_<N>seeds.npz``: the scenario pieces, the per-minute and
whole-run quantiles with CIs, per-minute mean responses, and per seed and minute the counts
of responses at or below a log grid of times (``<S>_cdf_x_s``, ``<S>_cdf_counts``,
``<S>_window_sizes``), from which any CDF value and its seed-level interval can be
recomputed.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.des_reference import (  # noqa: E402
    run_queue,
    simulate_queues_numpy,
    window_means,
    window_quantiles,
)

MU_RPS = 10.0
HORIZON_S = 3600.0
CDF_X_S = np.logspace(-3, 3, 241)  # 40 points per decade, 1 ms .. 1000 s


def scenarios(s1_step_s: float) -> dict[str, dict[str, np.ndarray]]:
    """Piecewise-constant definitions: breaks [s], rates [1/s], servers [-]."""
    starts = np.arange(0.0, HORIZON_S, s1_step_s)
    ends = np.minimum(starts + s1_step_s, HORIZON_S)
    omega = 2.0 * math.pi / 600.0
    s1_rate = 60.0 + 15.0 * (np.cos(omega * starts) - np.cos(omega * ends)) / (
        omega * (ends - starts)
    )
    return {
        "S1": {"breaks_s": starts, "rate_rps": s1_rate, "servers": np.full(starts.size, 8)},
        "S2": {
            "breaks_s": np.array([0.0, 1200.0, 1500.0]),
            "rate_rps": np.array([56.0, 104.0, 56.0]),
            "servers": np.array([8, 8, 8]),
        },
        "S3": {
            "breaks_s": np.array([0.0, 1200.0, 1800.0]),
            "rate_rps": np.array([112.0, 112.0, 112.0]),
            "servers": np.array([16, 8, 16]),
        },
    }


def _batch(
    engine: str,
    name: str,
    spec: dict[str, np.ndarray],
    capacity: int | None,
    seeds: list[np.random.SeedSequence],
) -> tuple[str, list[tuple[np.ndarray, np.ndarray, int]], float]:
    """Runs of one scenario for some seeds, and the seconds they took."""
    t0 = time.perf_counter()
    args = (spec["breaks_s"], spec["rate_rps"], spec["servers"], MU_RPS, capacity, HORIZON_S)
    if engine == "numpy":
        runs = simulate_queues_numpy(*args, seeds)
    else:
        runs = []
        for seed in seeds:
            run = run_queue(*args, seed)
            runs.append((run.arrival_s, run.response_s, run.lost_s.size))
    return name, runs, time.perf_counter() - t0


def _cdf_counts(
    arrivals: list[np.ndarray], responses: list[np.ndarray], edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per seed and window: #responses <= each CDF_X_S, and #responses."""
    counts = np.zeros((len(arrivals), edges.size - 1, CDF_X_S.size), dtype=np.int32)
    sizes = np.zeros((len(arrivals), edges.size - 1), dtype=np.int32)
    for s, (a, r) in enumerate(zip(arrivals, responses, strict=True)):
        window = np.searchsorted(edges, a, side="right") - 1  # a is sorted, so is window
        cuts = np.searchsorted(window, np.arange(edges.size))
        for w in range(edges.size - 1):
            in_w = np.sort(r[cuts[w] : cuts[w + 1]])
            sizes[s, w] = in_w.size
            counts[s, w] = np.searchsorted(in_w, CDF_X_S, side="right")
    return counts, sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--out", default="/tmp", help="folder for the .npz")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--engine", choices=["ciw", "numpy"], default="ciw")
    parser.add_argument("--scenarios", nargs="+", default=["S1", "S2", "S3"])
    parser.add_argument("--capacity", type=int, default=None, help="K (default: no limit)")
    parser.add_argument("--s1-step", type=float, default=1.0, help="S1 piece length [s]")
    parser.add_argument("--boot", type=int, default=1000, help="bootstrap replicates")
    parser.add_argument("--entropy", type=int, default=20_261_127, help="root seed")
    args = parser.parse_args()

    specs = {k: v for k, v in scenarios(args.s1_step).items() if k in args.scenarios}
    print(
        f"{args.engine} engine: {args.seeds} seeds x {list(specs)}, {args.workers} workers, "
        f"mu = {MU_RPS}/s, horizon {HORIZON_S:.0f} s, capacity "
        f"{'none' if args.capacity is None else args.capacity}",
        flush=True,
    )
    # Ciw: one seed per task; numpy: the seeds of a scenario in batches of at most 100
    per_task = 1 if args.engine == "ciw" else min(100, -(-args.seeds // args.workers))
    runs: dict[str, list] = {k: [None] * args.seeds for k in specs}
    busy_s = dict.fromkeys(specs, 0.0)
    wall0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = {}
        for name in sorted(specs, key=lambda k: -specs[k]["rate_rps"].mean()):  # big first
            seeds = [
                np.random.SeedSequence(args.entropy, spawn_key=(int(name[1:]), i))
                for i in range(args.seeds)
            ]
            for first in range(0, args.seeds, per_task):
                batch = seeds[first : first + per_task]
                future = pool.submit(_batch, args.engine, name, specs[name], args.capacity, batch)
                futures[future] = first
        for done, future in enumerate(as_completed(futures), start=1):
            name, batch_runs, seconds = future.result()
            first = futures[future]
            runs[name][first : first + len(batch_runs)] = batch_runs
            busy_s[name] += seconds
            if done % max(1, len(futures) // 10) == 0:
                print(
                    f"  {done}/{len(futures)} tasks, {time.perf_counter() - wall0:.0f} s",
                    flush=True,
                )
    sim_wall_s = time.perf_counter() - wall0

    edges = np.arange(0.0, HORIZON_S + 1.0, 60.0)
    saved: dict[str, np.ndarray] = {
        "engine": np.array(args.engine),
        "mu_rps": np.array(MU_RPS),
        "horizon_s": np.array(HORIZON_S),
        "capacity": np.array(-1 if args.capacity is None else args.capacity),
        "seeds": np.array(args.seeds),
        "entropy": np.array(args.entropy),
        "window_edges_s": edges,
        "cdf_x_s": CDF_X_S,
        "level": np.array(0.95),
    }
    whole_q = np.array([0.5, 0.95, 0.99])
    total = 0
    for name, spec in specs.items():
        arrivals = [r[0] for r in runs[name]]
        responses = [r[1] for r in runs[name]]
        lost = np.array([r[2] for r in runs[name]])
        customers = np.array([a.size + n for a, n in zip(arrivals, lost, strict=True)])
        total += int(customers.sum())
        t0 = time.perf_counter()
        per_minute = window_quantiles(arrivals, responses, edges, [0.99], n_boot=args.boot)
        whole = window_quantiles(
            arrivals, responses, [0.0, HORIZON_S], whole_q, n_boot=args.boot, seed=1
        )
        means = window_means(arrivals, responses, edges, n_boot=args.boot, seed=2)
        counts, sizes = _cdf_counts(arrivals, responses, edges)
        stats_s = time.perf_counter() - t0

        print(f"\n{name}: {customers.mean():.0f} requests per seed, {lost.sum()} lost in all")
        print(
            f"  {args.engine} speed: {customers.sum() / busy_s[name]:,.0f} requests/s per worker "
            f"({busy_s[name] / args.seeds:.2f} worker-s per seed); statistics {stats_s:.1f} s"
        )
        print("  minute   p99 [s]   95% CI               mean [s]   responses")
        for w in range(edges.size - 1):
            print(
                f"  {w:6d} {per_minute.estimate[w, 0]:9.4f}   "
                f"[{per_minute.low[w, 0]:9.4f}, {per_minute.high[w, 0]:9.4f}]"
                f" {means.estimate[w]:9.4f} {per_minute.count[w]:11d}"
            )
        for k, q in enumerate(whole_q):
            print(
                f"  whole run p{100 * q:g}: {whole.estimate[0, k]:.4f} s "
                f"[{whole.low[0, k]:.4f}, {whole.high[0, k]:.4f}]"
            )
        for key, value in spec.items():
            saved[f"{name}_{key}"] = value
        saved |= {
            f"{name}_p99": per_minute.estimate[:, 0],
            f"{name}_p99_low": per_minute.low[:, 0],
            f"{name}_p99_high": per_minute.high[:, 0],
            f"{name}_window_count": per_minute.count,
            f"{name}_mean": means.estimate,
            f"{name}_mean_low": means.low,
            f"{name}_mean_high": means.high,
            f"{name}_whole_q": whole_q,
            f"{name}_whole": whole.estimate[0],
            f"{name}_whole_low": whole.low[0],
            f"{name}_whole_high": whole.high[0],
            f"{name}_cdf_counts": counts,
            f"{name}_window_sizes": sizes,
            f"{name}_lost": lost,
            f"{name}_worker_seconds": np.array(busy_s[name]),
        }
    out = Path(args.out) / f"des_reference_{args.engine}_{args.seeds}seeds.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **saved)
    print(
        f"\nwall time {time.perf_counter() - wall0:.0f} s (simulation {sim_wall_s:.0f} s, "
        f"{total / sim_wall_s:,.0f} requests/s with {args.workers} workers); "
        f"cpu count {os.cpu_count()}; saved {out}"
    )


if __name__ == "__main__":
    main()
