"""Transient validation: the fast model against the exact solver and a discrete-event simulator.

Regenerates ``docs/validation.md``.  Scenarios (mu = 10/s per server, FCFS, no timeouts,
60 minutes):

* S1 sinusoid: c = 8, lambda(t) = 60 + 15 sin(2 pi t / 600), from empty;
* S2 flash crowd: c = 8, lambda = 56/s for 20 min, 104/s for 5 min, 56/s for 35 min;
* S3 instance loss: lambda = 112/s, c = 16, 8 of them killed at minute 20 for 600 s
  (a ``kill_instances`` chaos experiment);
* steady load at utilization 0.5, 0.8, 0.95, 0.995 (c = 8) and c = 50 at lambda = 450,
  in the stationary state.

The exact solver (:mod:`simkit.transient`) and the discrete-event simulator
(``tests/des_reference.py``: its vectorized engine for the figures, Ciw for the speed
comparison) get the very queue the simulator runs: the offered rate per 15 s control
period and the servers per period of the simulated result.  Steady cases are compared
with the stationary M/M/c values (``simkit.queueing``); their DES runs start from the
stationary distribution.

The DES intervals are simultaneous for the whole report: all its figures (per case the
whole-run mean, p50, p95, p99 and, for S1-S3, the 60 per-minute p99) form one family
whose 95 % interval holds for every figure at once (Bonferroni: each figure at level
``1 - 0.05 / n`` with ``n`` = :data:`N_FIGURES`, a normal interval from the
seed-bootstrap standard deviation).  "The DES agrees with the exact solver on every
figure" is then a test at the 5 % level; per-case families would fail somewhere in a
third of reports by chance alone.

Usage: ``python benchmarks/validation.py [--replications 1000] [--seeds 200]
[--steady-seeds 60] [--ciw-seeds 4] [--out docs/validation.md]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import simkit  # noqa: E402
from simkit import queueing  # noqa: E402
from simkit.transient import (  # noqa: E402
    PiecewiseQueue,
    response_time_means,
    response_time_quantiles,
)
from simkit.windows import window_latency_means, window_latency_quantiles  # noqa: E402
from tests import des_reference as des  # noqa: E402
from tests.conftest import (  # noqa: E402
    constant_load_scenario,
    per_second_trace,
    queue_scenario,
)

MU = 10.0
HORIZON_S = 3600.0
#: Steady DES runs are shorter: they start in the stationary state.
STEADY_HORIZON_S = 600.0
Q = np.array([0.5, 0.95, 0.99])
#: Whole-run figures: the mean, then the quantiles Q.
FIGURES = ("mean", "p50", "p95", "p99")
#: Minutes of each event: (first minute of the event, first minute after it).
EVENTS = {"S2": (20, 25), "S3": (20, 30)}
#: Minutes after an event that count as "after" (the drain and the settling).
AFTER_MIN = 15
#: Steady cases: (servers, arrival rate [1/s]).
STEADY = ((8, 40.0), (8, 64.0), (8, 76.0), (8, 79.6), (50, 450.0))
#: Figures with a DES interval in the report: one simultaneous family.
N_FIGURES = 3 * (len(FIGURES) + 60) + len(STEADY) * len(FIGURES)
#: Confidence level of each figure's interval (Bonferroni over the report).
LEVEL = 1.0 - 0.05 / N_FIGURES


def transient_case(name: str) -> tuple[simkit.Scenario, object]:
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


def fast_figures(result: simkit.SimResult) -> tuple[np.ndarray, np.ndarray]:
    """Pooled per-minute quantiles ``[60, 3]`` and whole-run ``[mean, p50, p95, p99]``."""
    minutes = np.arange(0, result.n_steps, 60)
    per_minute = window_latency_quantiles(result, minutes, pooled=True)[0]
    whole = window_latency_quantiles(result, np.array([0]), pooled=True)[0, 0]
    mean = window_latency_means(result, np.array([0]), pooled=True)[0, 0]
    return per_minute, np.r_[mean, whole]


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


def des_runs(
    queue: PiecewiseQueue, seeds: int, horizon_s: float, initial: np.ndarray | None = None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    runs = des.simulate_queues_numpy(
        queue.breaks_s,
        queue.rate_rps,
        queue.servers,
        MU,
        None,
        horizon_s,
        [np.random.SeedSequence([2026, i]) for i in range(seeds)],
        initial,
    )
    return [a for a, _, _ in runs], [r for _, r, _ in runs]


def des_whole(
    arrivals: list[np.ndarray], responses: list[np.ndarray], horizon_s: float, level: float
) -> dict[str, np.ndarray]:
    """DES estimate and simultaneous interval of ``FIGURES`` over the whole run."""
    edges = np.array([0.0, horizon_s])
    kw = {"level": level, "interval": "normal"}
    mean = des.window_means(arrivals, responses, edges, **kw)
    quant = des.window_quantiles(arrivals, responses, edges, Q, **kw)
    return {
        key: np.r_[getattr(mean, key)[0], getattr(quant, key)[0]]
        for key in ("estimate", "low", "high")
    }


def ciw_seconds(queue: PiecewiseQueue, seeds: int) -> float:
    """Wall time of ``seeds`` Ciw replications of the queue [s]."""
    t0 = time.perf_counter()
    for i in range(seeds):
        des.simulate_queue(
            queue.breaks_s, queue.rate_rps, queue.servers, MU, None, HORIZON_S, 7 + i
        )
    return time.perf_counter() - t0


def transient_row(name: str, args: argparse.Namespace) -> dict[str, object]:
    scenario, trace = transient_case(name)
    t0 = time.perf_counter()
    result = simkit.simulate(
        scenario, duration="1h", step="1s", replications=args.replications, seed=1, trace=trace
    )
    fast_min, fast_whole = fast_figures(result)
    fast_s = time.perf_counter() - t0
    queue = queue_of(result)
    starts = np.arange(0.0, HORIZON_S, 60.0)
    windows = np.vstack([np.column_stack([starts, starts + 60.0]), [[0.0, HORIZON_S]]])
    t0 = time.perf_counter()
    exact = response_time_quantiles(queue, windows, Q)
    exact_mean = response_time_means(queue, windows[-1:])[0]
    exact_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    arrivals, responses = des_runs(queue, args.seeds, HORIZON_S)
    level = LEVEL
    edges = np.r_[starts, HORIZON_S]
    des_min = des.window_quantiles(
        arrivals, responses, edges, Q[2:], level=level, interval="normal"
    )
    whole = des_whole(arrivals, responses, HORIZON_S, level)
    des_s = time.perf_counter() - t0
    row = {
        "case": name,
        "fast_whole": fast_whole,
        "exact_whole": np.r_[exact_mean, exact[-1]],
        "des_whole": whole,
        "fast_min": fast_min[:, 2],
        "exact_min": exact[:-1, 2],
        "des_min": {k: getattr(des_min, k)[:, 0] for k in ("estimate", "low", "high")},
        "fast_s": fast_s,
        "exact_s": exact_s,
        "des_s": des_s,
        **errors(name, fast_min, exact[:-1]),
    }
    if name == "S1" and args.ciw_seeds:
        row["ciw_s_per_rep"] = ciw_seconds(queue, args.ciw_seeds) / args.ciw_seeds
        row["fast_s_per_rep"] = fast_s / args.replications
    print(f"{name}: fast {fast_s:.1f} s, exact {exact_s:.1f} s, DES {des_s:.1f} s", flush=True)
    return row


def steady_row(servers: int, rate: float, args: argparse.Namespace) -> dict[str, object]:
    s = constant_load_scenario(
        rate,
        servers,
        service_time_ms=1e3 / MU,
        service__timeout_s=3600.0,
        service__queue_limit_per_instance=10**7,
    )
    t0 = time.perf_counter()
    reps = min(args.replications, 64)
    r = simkit.simulate(s, duration="1h", step="1s", replications=reps, seed=1)
    whole = window_latency_quantiles(r, np.array([0]), pooled=True)[0, 0]
    mean = window_latency_means(r, np.array([0]), pooled=True)[0, 0]
    fast_s = time.perf_counter() - t0
    exact = np.r_[
        queueing.mean_response_time(servers, rate, MU),
        queueing.response_time_quantile(Q, servers, rate, MU),
    ]
    t0 = time.perf_counter()
    queue = PiecewiseQueue([0.0], [rate], [servers], MU, 10**6, STEADY_HORIZON_S)
    initial = des.stationary_mmc_counts(
        servers, rate, MU, args.steady_seeds, np.random.default_rng(2026)
    )
    arrivals, responses = des_runs(queue, args.steady_seeds, STEADY_HORIZON_S, initial)
    whole_des = des_whole(arrivals, responses, STEADY_HORIZON_S, LEVEL)
    des_s = time.perf_counter() - t0
    case = f"c = {servers}, utilization {rate / (servers * MU):g}"
    print(f"{case}: fast {fast_s:.1f} s, DES {des_s:.1f} s", flush=True)
    return {
        "case": case,
        "fast_whole": np.r_[mean, whole],
        "exact_whole": exact,
        "des_whole": whole_des,
        "fast_s": fast_s,
        "des_s": des_s,
        "replications": reps,
    }


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _ci(stat: dict[str, np.ndarray], i: int) -> str:
    return f"{_fmt(stat['estimate'][i])} [{_fmt(stat['low'][i])}, {_fmt(stat['high'][i])}]"


def _inside(stat: dict[str, np.ndarray], exact: np.ndarray) -> np.ndarray:
    return (stat["low"] <= exact) & (exact <= stat["high"])


def _whole_table(rows: list[dict], digits: int) -> list[str]:
    lines = [
        "| case | figure | fast | exact | error | DES [simultaneous 95 % CI] | exact inside |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        inside = _inside(row["des_whole"], row["exact_whole"])
        for j, name in enumerate(FIGURES):
            fast, exact = row["fast_whole"][j], row["exact_whole"][j]
            lines.append(
                f"| {row['case']} | {name} | {_fmt(fast)} | {_fmt(exact)} | "
                f"{100 * (fast / exact - 1):+.{digits}f} % | {_ci(row['des_whole'], j)} | "
                f"{'yes' if inside[j] else '**no**'} |"
            )
    return lines


def _agreement(transient: list[dict], steady: list[dict]) -> str:
    inside = total = 0
    for row in [*transient, *steady]:
        ok = _inside(row["des_whole"], row["exact_whole"])
        inside, total = inside + int(ok.sum()), total + ok.size
        if "des_min" in row:
            ok = _inside(row["des_min"], row["exact_min"])
            inside, total = inside + int(ok.sum()), total + ok.size
    return (
        f"The DES interval contains the exact value for {inside} of the {total} reported figures."
    )


def report(transient: list[dict], steady: list[dict], args: argparse.Namespace) -> str:
    lines = [
        "# Validation of the fast model under stress",
        "",
        "Generated by `python benchmarks/validation.py` "
        f"(--replications {args.replications} --seeds {args.seeds} --steady-seeds "
        f"{args.steady_seeds} --ciw-seeds {args.ciw_seeds}); do not edit by hand.",
        "",
        "The fast model (`simkit.simulate`, pooled over its replications) against the exact "
        "solution of the time-dependent queue (`simkit.transient`; for steady load the "
        "stationary M/M/c formulas) and a request-level discrete-event simulator "
        "(`tests/des_reference.py`). Latencies in seconds; errors are the fast model's, "
        "relative to the exact value. The DES intervals are simultaneous 95 % intervals "
        f"for all the {N_FIGURES} figures of this report (Bonferroni: each at level "
        f"1 - 0.05/{N_FIGURES}, normal intervals from a seed bootstrap), so every figure "
        "lies inside its interval with probability at least 0.95 when the DES and the "
        "exact solver agree.",
        "",
        _agreement(transient, steady),
        "",
        "## Whole run",
        "",
        *_whole_table(transient, 2),
        "",
        "## Per-minute p99",
        "",
        "Mean absolute relative error of the fast model's per-minute p99 during the event "
        f"and over the {AFTER_MIN} minutes after it (S1: all minutes), and the worst minute.",
        "",
        "| scenario | during | after | worst minute | exact inside the DES interval |",
        "|---|---|---|---|---|",
    ]
    for row in transient:
        inside = _inside(row["des_min"], row["exact_min"])
        lines.append(
            f"| {row['case']} | {row['during_pct']:.2f} % | {row['after_pct']:.2f} % | "
            f"{row['worst_pct']:.2f} % (minute {row['worst_min']}) | "
            f"{int(inside.sum())} of {inside.size} minutes |"
        )
    for row in transient:
        lines += [
            "",
            f"### {row['case']}: p99 per minute",
            "",
            "| minute | fast | exact | error | DES [simultaneous 95 % CI] |",
            "|---|---|---|---|---|",
        ]
        for m in range(row["exact_min"].size):
            fast, exact = row["fast_min"][m], row["exact_min"][m]
            lines.append(
                f"| {m} | {_fmt(fast)} | {_fmt(exact)} | {100 * (fast / exact - 1):+.2f} % | "
                f"{_ci(row['des_min'], m)} |"
            )
    lines += [
        "",
        "## Steady load",
        "",
        f"DES: {args.steady_seeds} runs of {STEADY_HORIZON_S:g} s from the stationary state.",
        "",
        *_whole_table(steady, 3),
        "",
        "## Time (this run, one process)",
        "",
        "| case | fast model | exact solver | DES (vectorized engine) |",
        "|---|---|---|---|",
    ]
    for row in transient:
        lines.append(
            f"| {row['case']} | {row['fast_s']:.2f} s ({args.replications} replications) | "
            f"{row['exact_s']:.1f} s | {row['des_s']:.1f} s ({args.seeds} seeds) |"
        )
    for row in steady:
        lines.append(
            f"| {row['case']} | {row['fast_s']:.2f} s ({row['replications']} replications) | "
            f"closed form | {row['des_s']:.1f} s ({args.steady_seeds} seeds) |"
        )
    s1 = transient[0]
    if "ciw_s_per_rep" in s1:
        ratio = s1["ciw_s_per_rep"] / s1["fast_s_per_rep"]
        lines += [
            "",
            f"S1 per replication: fast model {1e3 * s1['fast_s_per_rep']:.2f} ms "
            f"(simulation and figures, {args.replications} replications), Ciw "
            f"{s1['ciw_s_per_rep']:.2f} s (mean of {args.ciw_seeds}): the fast model is "
            f"{ratio:,.0f} times faster.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--steady-seeds", type=int, default=60)
    parser.add_argument("--ciw-seeds", type=int, default=4)
    parser.add_argument("--out", default=str(ROOT / "docs" / "validation.md"))
    args = parser.parse_args()
    # load the compiled control loop (numba cache) before anything is timed
    simkit.simulate(queue_scenario(2), duration="1min", step="1s", replications=1)
    transient = [transient_row(name, args) for name in ("S1", "S2", "S3")]
    steady = [steady_row(c, lam, args) for c, lam in STEADY]
    text = report(transient, steady, args)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
