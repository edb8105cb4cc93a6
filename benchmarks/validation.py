"""Transient validation: the fast model against the exact solver and a discrete-event simulator.

Regenerates ``docs/validation.md``.  Scenarios (mu = 10/s per server, FCFS, no timeouts,
start empty, 60 minutes):

* S1 sinusoid: c = 8, lambda(t) = 60 + 15 sin(2 pi t / 600);
* S2 flash crowd: c = 8, lambda = 56/s for 20 min, 104/s for 5 min, 56/s for 35 min;
* S3 instance loss: lambda = 112/s, c = 16, 8 of them killed at minute 20 for 600 s
  (a ``kill_instances`` chaos experiment);
* steady load at utilization 0.5, 0.8, 0.95, 0.995 (c = 8) and c = 50 at lambda = 450.

The exact solver (:mod:`simkit.transient`) and the discrete-event simulator
(``tests/des_reference.py``: its vectorized engine for the figures, Ciw for the speed
comparison) get the very queue the simulator runs: the offered rate per 15 s control
period and the servers per period of the simulated result.  Steady cases are compared
with the stationary M/M/c quantiles (``simkit.queueing``).  Figures are printed and
written to ``docs/validation.md``.

Usage: ``python benchmarks/validation.py [--replications 1000] [--seeds 200]
[--ciw-seeds 4] [--out docs/validation.md]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import simkit  # noqa: E402
from simkit import queueing  # noqa: E402
from simkit.transient import PiecewiseQueue, response_time_quantiles  # noqa: E402
from simkit.windows import window_latency_quantiles  # noqa: E402
from tests import des_reference as des  # noqa: E402
from tests.conftest import (  # noqa: E402
    constant_load_scenario,
    per_second_trace,
    queue_scenario,
)

MU = 10.0
HORIZON_S = 3600.0
Q = np.array([0.5, 0.95, 0.99])
#: Minutes of each event: (first minute of the event, first minute after it).
EVENTS = {"S2": (20, 25), "S3": (20, 30)}
#: Minutes after an event that count as "after" (the drain and the settling).
AFTER_MIN = 15


def transient_case(name: str) -> tuple[simkit.Scenario, pd.Series]:
    """Scenario and per-second rate trace of S1, S2 or S3."""
    t = np.arange(int(HORIZON_S)) + 0.5
    if name == "S1":
        return queue_scenario(8), per_second_trace(60.0 + 15.0 * np.sin(2 * np.pi * t / 600.0))
    if name == "S2":
        return queue_scenario(8), per_second_trace(np.where((t >= 1200) & (t < 1500), 104.0, 56.0))
    kill = {"kind": "kill_instances", "at_s": 1200.0, "duration_s": 600.0, "instances": 8}
    chaos = {"enabled": True, "experiments": [kill]}
    return queue_scenario(16, chaos=chaos), per_second_trace(np.full(t.size, 112.0))


def queue_of(result: simkit.SimResult) -> PiecewiseQueue:
    """The queue the simulator ran (replication 0): rate and servers per period."""
    servers = result.ready_instances[0].astype(np.int64) * result.scenario.servers_per_instance
    breaks = np.arange(servers.size) * result.period_s
    peak = float(result.rate_rps[0].max())
    capacity = int(peak * HORIZON_S) + 1000  # more than can ever arrive: no blocking
    return PiecewiseQueue(breaks, result.rate_rps[0], servers, MU, capacity, HORIZON_S)


def minute_windows() -> np.ndarray:
    starts = np.arange(0.0, HORIZON_S, 60.0)
    return np.column_stack([starts, starts + 60.0])


def fast_figures(result: simkit.SimResult) -> tuple[np.ndarray, np.ndarray]:
    """Pooled per-minute quantiles ``[60, 3]`` and whole-run quantiles ``[3]``."""
    per_minute = window_latency_quantiles(result, np.arange(0, result.n_steps, 60), pooled=True)[0]
    whole = window_latency_quantiles(result, np.array([0]), pooled=True)[0, 0]
    return per_minute, whole


def errors(name: str, fast: np.ndarray, exact: np.ndarray) -> dict[str, float]:
    """Per-minute p99 relative errors: mean absolute during and after the event, worst."""
    rel = fast[:, 2] / exact[:, 2] - 1.0
    out = {"worst_pct": 100 * float(np.max(np.abs(rel))), "worst_min": int(np.argmax(abs(rel)))}
    if name in EVENTS:
        first, after = EVENTS[name]
        out["during_pct"] = 100 * float(np.mean(np.abs(rel[first:after])))
        out["after_pct"] = 100 * float(np.mean(np.abs(rel[after : after + AFTER_MIN])))
    else:
        out["during_pct"] = out["after_pct"] = 100 * float(np.mean(np.abs(rel)))
    return out


def des_figures(queue: PiecewiseQueue, seeds: int) -> tuple[des.WindowStatistic, ...]:
    runs = des.simulate_queues_numpy(
        queue.breaks_s,
        queue.rate_rps,
        queue.servers,
        MU,
        None,
        HORIZON_S,
        [np.random.SeedSequence([2026, i]) for i in range(seeds)],
    )
    arrivals = [a for a, _, _ in runs]
    responses = [r for _, r, _ in runs]
    edges = np.arange(0.0, HORIZON_S + 1.0, 60.0)
    minutes = des.window_quantiles(arrivals, responses, edges, Q)
    whole = des.window_quantiles(arrivals, responses, np.array([0.0, HORIZON_S]), Q)
    return minutes, whole


def ciw_seconds(queue: PiecewiseQueue, seeds: int) -> float:
    """Wall time of ``seeds`` Ciw replications of the queue [s]."""
    t0 = time.perf_counter()
    for i in range(seeds):
        des.simulate_queue(
            queue.breaks_s, queue.rate_rps, queue.servers, MU, None, HORIZON_S, 7 + i
        )
    return time.perf_counter() - t0


def transient_rows(args: argparse.Namespace) -> list[dict[str, object]]:
    rows = []
    for name in ("S1", "S2", "S3"):
        scenario, trace = transient_case(name)
        t0 = time.perf_counter()
        result = simkit.simulate(
            scenario,
            duration="1h",
            step="1s",
            replications=args.replications,
            seed=1,
            trace=trace,
        )
        fast_min, fast_whole = fast_figures(result)
        fast_s = time.perf_counter() - t0
        queue = queue_of(result)
        windows = np.vstack([minute_windows(), [[0.0, HORIZON_S]]])
        t0 = time.perf_counter()
        exact = response_time_quantiles(queue, windows, Q)
        exact_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        des_min, des_whole = des_figures(queue, args.seeds)
        des_s = time.perf_counter() - t0
        row = {
            "scenario": name,
            "fast_whole": fast_whole,
            "exact_whole": exact[-1],
            "des_whole": des_whole,
            "fast_min": fast_min,
            "exact_min": exact[:-1],
            "des_min": des_min,
            "fast_s": fast_s,
            "exact_s": exact_s,
            "des_s": des_s,
            **errors(name, fast_min, exact[:-1]),
        }
        if name == "S1" and args.ciw_seeds:
            row["ciw_s_per_rep"] = ciw_seconds(queue, args.ciw_seeds) / args.ciw_seeds
            row["fast_s_per_rep"] = fast_s / args.replications
        rows.append(row)
        print(f"{name}: fast {fast_s:.1f} s, exact {exact_s:.1f} s, DES {des_s:.1f} s", flush=True)
    return rows


def steady_rows(replications: int) -> list[dict[str, object]]:
    rows = []
    for servers, rate in ((8, 40.0), (8, 64.0), (8, 76.0), (8, 79.6), (50, 450.0)):
        s = constant_load_scenario(
            rate,
            servers,
            service_time_ms=1e3 / MU,
            service__timeout_s=3600.0,
            service__queue_limit_per_instance=10**7,
        )
        t0 = time.perf_counter()
        r = simkit.simulate(s, duration="1h", step="1s", replications=replications, seed=1)
        whole = window_latency_quantiles(r, np.array([0]), pooled=True)[0, 0]
        seconds = time.perf_counter() - t0
        exact = queueing.response_time_quantile(Q, servers, rate, MU)
        rows.append(
            {
                "case": f"c = {servers}, utilization {rate / (servers * MU):g}",
                "fast": whole,
                "exact": np.asarray(exact),
                "fast_s": seconds,
            }
        )
    return rows


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _ci(stat: des.WindowStatistic, row: int, col: int) -> str:
    return (
        f"{_fmt(stat.estimate[row, col])} [{_fmt(stat.low[row, col])}, {_fmt(stat.high[row, col])}]"
    )


def report(transient: list[dict], steady: list[dict], args: argparse.Namespace) -> str:
    lines = [
        "# Validation of the fast model under stress",
        "",
        "Generated by `python benchmarks/validation.py` "
        f"(--replications {args.replications} --seeds {args.seeds} "
        f"--ciw-seeds {args.ciw_seeds}); do not edit by hand.",
        "",
        "The fast model (`simkit.simulate`, pooled over its replications) against the exact "
        "solution of the time-dependent queue (`simkit.transient`) and a request-level "
        "discrete-event simulator (`tests/des_reference.py`, seed-bootstrap 95 % interval). "
        "Latencies in seconds; errors are the fast model's, relative to the exact value.",
        "",
        "## Whole run",
        "",
        "| scenario | quantile | fast | exact | error | DES [95 % CI] |",
        "|---|---|---|---|---|---|",
    ]
    for row in transient:
        for j, q in enumerate(Q):
            fast, exact = row["fast_whole"][j], row["exact_whole"][j]
            lines.append(
                f"| {row['scenario']} | p{round(q * 100)} | {_fmt(fast)} | {_fmt(exact)} | "
                f"{100 * (fast / exact - 1):+.2f} % | {_ci(row['des_whole'], 0, j)} |"
            )
    lines += [
        "",
        "## Per-minute p99",
        "",
        "Mean absolute relative error of the fast model's per-minute p99 during the event "
        f"and over the {AFTER_MIN} minutes after it (S1: all minutes), and the worst minute.",
        "",
        "| scenario | during | after | worst minute | DES inside its CI of the exact value |",
        "|---|---|---|---|---|",
    ]
    for row in transient:
        stat = row["des_min"]
        exact = row["exact_min"][:, 2]
        inside = int(np.sum((stat.low[:, 2] <= exact) & (exact <= stat.high[:, 2])))
        lines.append(
            f"| {row['scenario']} | {row['during_pct']:.2f} % | {row['after_pct']:.2f} % | "
            f"{row['worst_pct']:.2f} % (minute {row['worst_min']}) | "
            f"{inside} of {exact.size} minutes |"
        )
    for row in transient:
        lines += [
            "",
            f"### {row['scenario']}: p99 per minute",
            "",
            "| minute | fast | exact | error | DES [95 % CI] |",
            "|---|---|---|---|---|",
        ]
        for m in range(row["exact_min"].shape[0]):
            fast, exact = row["fast_min"][m, 2], row["exact_min"][m, 2]
            lines.append(
                f"| {m} | {_fmt(fast)} | {_fmt(exact)} | {100 * (fast / exact - 1):+.2f} % | "
                f"{_ci(row['des_min'], m, 2)} |"
            )
    lines += [
        "",
        "## Steady load",
        "",
        "| case | quantile | fast | exact (stationary M/M/c) | error |",
        "|---|---|---|---|---|",
    ]
    for row in steady:
        for j, q in enumerate(Q):
            fast, exact = row["fast"][j], row["exact"][j]
            lines.append(
                f"| {row['case']} | p{round(q * 100)} | {_fmt(fast)} | {_fmt(exact)} | "
                f"{100 * (fast / exact - 1):+.3f} % |"
            )
    lines += [
        "",
        "## Time (this run, one process)",
        "",
        "| scenario | fast model | exact solver | DES (vectorized engine) |",
        "|---|---|---|---|",
    ]
    for row in transient:
        lines.append(
            f"| {row['scenario']} | {row['fast_s']:.2f} s ({args.replications} replications) | "
            f"{row['exact_s']:.1f} s | {row['des_s']:.1f} s ({args.seeds} seeds) |"
        )
    s1 = transient[0]
    if "ciw_s_per_rep" in s1:
        ratio = s1["ciw_s_per_rep"] / s1["fast_s_per_rep"]
        lines += [
            "",
            f"S1 per replication: fast model {1e3 * s1['fast_s_per_rep']:.2f} ms, Ciw "
            f"{s1['ciw_s_per_rep']:.1f} s: the fast model is {ratio:,.0f} times faster.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--ciw-seeds", type=int, default=4)
    parser.add_argument("--out", default=str(ROOT / "docs" / "validation.md"))
    args = parser.parse_args()
    transient = transient_rows(args)
    steady = steady_rows(min(args.replications, 64))
    text = report(transient, steady, args)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
