"""Train the learned scaling policy and write its parameters to data/learned_policy.json.

Prints the training log and the wall time; nothing here is asserted.  Run with
``python benchmarks/train_learned_policy.py [--seed 0] [--workers 2]``.

The policy (:mod:`simkit.autoscaling.learned`) is trained by the cross-entropy
method (:mod:`simkit.training`) on synthetic traffic only (the production profile
with randomized workload, HPA target and start-up time; deployments off to
isolate scaling).  The parameters
go to ``data/learned_policy.json`` with their provenance; copy them into the
``[learned]`` tables of the profiles by hand.  The search starts from :data:`INITIAL`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import time
from pathlib import Path

import pandas as pd

import simkit
from simkit.scenario import Learned
from simkit.training import (
    DEFAULT_PENALTY_USD_PER_SLO_MINUTE,
    SEARCH_SPACE,
    TRAINING_MAX_REPLICAS,
    TRAINING_RANGES,
    train,
)

OUT = Path(__file__).resolve().parents[1] / "data" / "learned_policy.json"
#: Start of the search: the untrained placeholder values the profiles shipped with
#: (fixed here, so that re-running the script does not start from its own output).
INITIAL = Learned(
    headroom=1.2, trend_gain=1.0, short_window_s=300.0, long_window_s=3600.0, target_utilization=0.5
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=9)
    parser.add_argument("--population", type=int, default=10)
    parser.add_argument("--tasks-per-generation", type=int, default=6)
    parser.add_argument("--duration", default="1D")
    parser.add_argument("--replications", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="processes (no effect on result)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    settings = {
        "method": "cross-entropy method, diagonal Gaussian on logistic search coordinates",
        "iterations": args.iterations,
        "population": args.population,
        "elite_fraction": 0.25,
        "smoothing": 0.7,
        "initial_sd": 1.0,
        "tasks_per_generation": args.tasks_per_generation,
        "duration": args.duration,
        "step": "15s",
        "replications": args.replications,
        "penalty_usd_per_slo_minute": DEFAULT_PENALTY_USD_PER_SLO_MINUTE,
        "base_scenario": "production profile, deployment.deploys_per_day = 0",
        "initial": {
            "headroom": INITIAL.headroom,
            "trend_gain": INITIAL.trend_gain,
            "short_window_s": INITIAL.short_window_s,
            "long_window_s": INITIAL.long_window_s,
            "target_utilization": INITIAL.target_utilization,
        },
    }
    base = simkit.load_scenario("production").replace(deployment__deploys_per_day=0.0)
    pd.set_option("display.width", 200)
    pd.set_option("display.float_format", "{:.3f}".format)
    print(f"training on synthetic traffic: {settings}")
    started = time.perf_counter()

    def show(row: dict[str, float]) -> None:
        elapsed = time.perf_counter() - started
        print(
            f"gen {row['generation']:2d}  reactive {row['objective_reactive']:8.3f}  "
            f"mean {row['objective_mean']:8.3f}  best {row['objective_best']:8.3f}  "
            f"elite {row['objective_elite']:8.3f}  [{elapsed:5.1f} s]",
            flush=True,
        )

    params, log = train(
        base,
        iterations=args.iterations,
        population=args.population,
        seed=args.seed,
        tasks_per_generation=args.tasks_per_generation,
        duration=args.duration,
        replications=args.replications,
        workers=args.workers,
        initial=INITIAL,
        progress=show,
    )
    wall_s = time.perf_counter() - started
    cpu_s = sum(
        u.ru_utime + u.ru_stime
        for u in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )
    print("\n== Training log (objective = cost_usd + penalty x SLO minutes, USD per run)")
    print(log.to_string())
    print(f"\ntrained parameters: {params}")
    print(
        f"wall time: {wall_s:.1f} s with {args.workers} worker process(es); "
        f"CPU time (this process and the workers): {cpu_s:.1f} s"
    )
    record = {
        "parameters": {
            "headroom": params.headroom,
            "trend_gain": params.trend_gain,
            "short_window_s": params.short_window_s,
            "long_window_s": params.long_window_s,
            "target_utilization": params.target_utilization,
        },
        "provenance": {
            "script": "benchmarks/train_learned_policy.py",
            "seed": args.seed,
            "settings": settings,
            "objective": "mean over tasks and replications of cost_usd + "
            "penalty_usd_per_slo_minute x slo_minutes_violated",
            "search_space": [list(row) for row in SEARCH_SPACE],
            "training_ranges": {k: list(v) for k, v in TRAINING_RANGES.items()},
            "training_max_replicas": TRAINING_MAX_REPLICAS,
            "traffic": "synthetic only (simkit workload model); no trace was used",
            "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "simkit_version": simkit.__version__,
            "wall_time_s": round(wall_s, 1),
            "cpu_time_s": round(cpu_s, 1),
            "workers": args.workers,
        },
        "log": json.loads(log.reset_index().to_json(orient="records")),
    }
    simkit.io.write_text(args.out, json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
