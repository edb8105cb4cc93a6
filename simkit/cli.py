"""Command line: ``simkit run`` and ``simkit compare`` (thin over the API).

Bad input of any kind prints one line to stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NoReturn

import pandas as pd

from simkit import __version__
from simkit.analysis import summarize
from simkit.analysis.kpis import kpi_frame
from simkit.engine import simulate
from simkit.errors import SimkitError
from simkit.io import list_profiles, load_scenario, write_frame_csv, write_result_npz
from simkit.result import SimResult
from simkit.scenario import Scenario
from simkit.units import format_duration, parse_duration

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        command = " ".join(self.prog.split()[1:])
        where = f"simkit {command} --help" if command else "simkit --help"
        self.exit(2, f"simkit: error: {' '.join(message.split())} (see {where})\n")


class _ProgressBar:
    """A one-line progress bar on stderr (silent when stderr is not a terminal)."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label = label
        self.enabled = enabled
        self.t0 = time.perf_counter()

    def __call__(self, fraction: float) -> None:
        if not self.enabled:
            return
        width = 30
        done = int(width * fraction)
        elapsed = time.perf_counter() - self.t0
        bar = "#" * done + "." * (width - done)
        sys.stderr.write(f"\r{self.label:<14} [{bar}] {fraction:4.0%} {elapsed:5.1f}s")
        if fraction >= 1.0:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _int_in(name: str, lower: int, upper: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} = {text!r} must be a whole number") from None
        if not lower <= value <= upper:
            raise argparse.ArgumentTypeError(f"{name} = {value} is out of range {lower}..{upper}")
        return value

    return parse


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="simkit",
        description="Simulate capacity, latency and failures of the service profiles.",
    )
    parser.add_argument("--version", action="version", version=f"simkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    common = _Parser(add_help=False)
    common.add_argument(
        "--duration", default="7D", help="simulated time, e.g. 7D, 12h (default 7D)"
    )
    common.add_argument(
        "--step", default="1s", help="simulation step dividing the sync period (default 1s)"
    )
    common.add_argument(
        "--replications",
        type=_int_in("replications", 1, 100_000),
        default=32,
        help="Monte Carlo replications (default 32)",
    )
    common.add_argument(
        "--seed", type=_int_in("seed", 0, 2**63 - 1), default=0, help="root seed (default 0)"
    )
    common.add_argument(
        "--trace",
        default=None,
        help="trace to replay: CSV (timestamp,value per interval, or timestamp,rate_rps) "
        "or a Prometheus query_range JSON",
    )
    common.add_argument(
        "--trace-peak-rps",
        type=float,
        default=None,
        help="scale the trace so that its peak is this many requests per second",
    )
    common.add_argument("--quiet", action="store_true", help="no progress bar")
    run = sub.add_parser("run", parents=[common], help="simulate one profile or scenario file")
    run.add_argument("scenario", help=f"profile ({', '.join(list_profiles())}) or a .toml file")
    run.add_argument(
        "--out", default=None, help="write per-replication KPIs (.csv) or all arrays (.npz)"
    )
    cmp_ = sub.add_parser("compare", parents=[common], help="simulate several and write a report")
    cmp_.add_argument("scenarios", nargs="+", help="profiles or .toml files")
    cmp_.add_argument("--out", default="report", help="report folder (default ./report)")
    return parser


def _read_trace(args: argparse.Namespace) -> pd.Series | None:
    """The ``--trace`` to replay (scaled by ``--trace-peak-rps``), or ``None``."""
    if args.trace_peak_rps is not None and not args.trace:
        raise SimkitError("--trace-peak-rps needs --trace FILE (a trace to scale)")
    if not args.trace:
        return None
    from simkit.io import read_trace

    return read_trace(args.trace, peak_rps=args.trace_peak_rps)


def _simulate(
    args: argparse.Namespace,
    scenario: Scenario,
    trace: pd.Series | None,
    progress: Callable[[float], None] | None = None,
) -> SimResult:
    """One scenario simulated with the command's duration, step, replications and seed."""
    return simulate(
        scenario,
        duration=args.duration,
        step=args.step,
        replications=args.replications,
        seed=args.seed,
        trace=trace,
        progress=progress,
    )


def _print_table(summary: pd.DataFrame) -> None:
    """The headline KPI table of a summary (:func:`simkit.report.format_summary`)."""
    from simkit.report import format_summary

    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(format_summary(summary).to_string())


def _check_times(args: argparse.Namespace) -> float:
    """Validate --duration and --step before any work; return the duration [s]."""
    parse_duration(args.step, name="--step")
    return parse_duration(args.duration, name="--duration")


def _cmd_run(args: argparse.Namespace) -> int:
    _check_times(args)
    scenario = load_scenario(args.scenario)
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix not in (".csv", ".npz"):
        raise SimkitError(f"--out = {args.out!r} must end in .csv (KPIs) or .npz (arrays)")
    bar = _ProgressBar(scenario.name, enabled=not args.quiet and sys.stderr.isatty())
    result = _simulate(args, scenario, _read_trace(args), bar)
    kpis = kpi_frame([result])
    if out is not None:  # write first: a failed write leaves no half output on stdout
        if out.suffix == ".csv":
            write_frame_csv(out, kpis)
        else:
            write_result_npz(out, result)
    _print_table(summarize(kpis))
    if out is not None:
        print(f"wrote {out}")
    return 0


def _cores() -> int:
    """Processors this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _in_parallel(
    tasks: Sequence[tuple[Callable[..., object], tuple]], progress: Callable[[float], None]
) -> Iterator[tuple[int, object]]:
    """Yield ``(i, f(*arguments))`` for the tasks ``(f, arguments)`` as they finish, run
    on one worker process per core (this process may work between two results).

    Each task runs in one process from start to end (same seeds, same numbers as in
    this one); the first task to fail raises here and the rest are cancelled.
    """
    workers = min(len(tasks), _cores())
    if workers <= 1:
        for i, (f, arguments) in enumerate(tasks):
            yield i, f(*arguments)
            progress((i + 1) / len(tasks))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # fork: the workers start with simkit imported and cost no memory until they write
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_quiet_on_interrupt)
    try:
        futures = {pool.submit(f, *arguments): i for i, (f, arguments) in enumerate(tasks)}
        for n, future in enumerate(as_completed(futures), start=1):
            progress(n / len(futures))
            yield futures[future], future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _quiet_on_interrupt() -> None:
    """In a worker: end at once and silently on Ctrl-C (the parent says it was
    interrupted)."""
    signal.signal(signal.SIGINT, lambda signum, frame: os._exit(130))


def _scenario_outputs(
    args: argparse.Namespace, scenario: Scenario, trace: pd.Series | None, freq: str
) -> dict:
    """Simulate one scenario and keep what the report needs: its KPIs and their bootstrap
    intervals, replication 0 at ``freq`` (the time-series figure's frame), per-minute
    p99 [s] and the error budget left (a worker's task; it draws nothing, so workers need
    no matplotlib)."""
    from simkit import analysis

    result = _simulate(args, scenario, trace)
    kpis = analysis.kpi_frame([result])
    return {
        "kpis": kpis,
        "intervals": analysis.summarize(kpis),  # compare's, with its defaults
        "series": result.to_frame(freq=freq, replications=[0]).droplevel("replication"),
        "minute_p99": analysis.minute_series(result)["latency_p99_s"],
        "budget": analysis.error_budget(result),
    }


def _plan_outputs(args: argparse.Namespace, scenario: Scenario, duration_s: float) -> dict:
    """Capacity plan for a seasonal day and its check at the peak held constant, simulated
    and by Erlang C (a worker's task)."""
    from simkit import analysis

    plan_s = min(duration_s, 86400.0)  # one weekday at most
    peak = analysis.seasonal_peak_rps(scenario, plan_s)
    plan = analysis.capacity_plan(
        scenario,
        None,
        peak,
        load="seasonal",
        duration=plan_s,
        replications=min(args.replications, 16),
        seed=args.seed,
    )
    constant = analysis.capacity_plan(
        scenario, None, peak, replications=8, seed=args.seed, curve_margin=0
    )
    return {"plan": plan, "check": (constant, analysis.analytic_instances(scenario, peak))}


def _fit_outputs(args: argparse.Namespace, scenario: Scenario) -> pd.DataFrame:
    """Failure-time fits over 28 days (a worker's task)."""
    from simkit import analysis

    return analysis.fit_failure_times(
        scenario, duration="28D", replications=args.replications, seed=args.seed
    )


def _compare_tasks(
    args: argparse.Namespace, scenarios: Sequence[Scenario], duration_s: float
) -> tuple[dict, list[dict], list[pd.DataFrame]]:
    """Every scenario's outputs, capacity plans and fits, computed in parallel; the
    outputs are summarized here (:func:`_summary`) while the plans and fits still run."""
    trace = _read_trace(args)
    freq = "5min" if duration_s > 6 * 3600 else "1min"
    tasks: list[tuple[Callable[..., object], tuple]] = [
        *((_scenario_outputs, (args, s, trace, freq)) for s in scenarios),
        *((_plan_outputs, (args, s, duration_s)) for s in scenarios),
        *((_fit_outputs, (args, s)) for s in scenarios),
    ]
    show = not args.quiet and sys.stderr.isatty()
    n, done, summary = len(scenarios), {}, {}
    for i, value in _in_parallel(tasks, _ProgressBar("compare", enabled=show)):
        done[i] = value
        if i < n:  # drawn here while the workers go on (matplotlib is loaded here only)
            value["series"] = _series_png(value["series"], scenarios[i], freq)
        if not summary and all(j in done for j in range(n)):
            summary = _summary(scenarios, [done[j] for j in range(n)])
    return summary, [done[n + j] for j in range(n)], [done[2 * n + j] for j in range(n)]


def _series_png(frame: pd.DataFrame, scenario: Scenario, freq: str) -> bytes:
    """The time-series figure of replication 0 from its frame, as a PNG."""
    from simkit.plotting import plot_timeseries_frame
    from simkit.report import png_data

    return png_data(plot_timeseries_frame(frame, scenario, 0, freq))


def _cmd_compare(args: argparse.Namespace) -> int:
    from simkit.report import SLO_KPIS, findings, format_summary, write_report

    duration_s = _check_times(args)
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise SimkitError(f"--out = {args.out!r} is a file; give a folder for the report")
    scenarios = [load_scenario(name) for name in args.scenarios]
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise SimkitError(f"scenario names must differ to be compared; got {names}")
    summary, planned, fitted = _compare_tasks(args, scenarios, duration_s)
    comparison = summary["comparison"]
    plans = {name: p["plan"] for name, p in zip(names, planned, strict=True)}
    checks = {name: p["check"] for name, p in zip(names, planned, strict=True)}
    fits = dict(zip(names, fitted, strict=True))
    sentences = findings(comparison, plans, fits)
    from simkit.plotting import plot_capacity_plan

    png = summary["png"]
    page = write_report(
        args.out,
        kpis=summary["kpis"],
        summary=comparison,
        scenarios=scenarios,
        figures={
            "KPI means with 95 % bootstrap confidence intervals": png["kpis"],
            "Per-minute p99 latency": png["minute_p99"],
            "Error budget left over the rolling SLO window (request SLI)": png["budgets"],
            "Capacity plan: p99 latency of a seasonal day against the fixed instance count": (
                plot_capacity_plan(plans)
            ),
            "Cost against SLO minutes violated (means per scenario)": png["pareto"],
            **{
                f"{name}: load, capacity, latency and errors (replication 0)": series
                for name, series in zip(names, summary["series"], strict=True)
            },
        },
        run_info=_run_info(args, duration_s),
        sentences=sentences,
        tables={
            "Capacity plan at the peak": _plan_table(plans, checks),
            "Failure-time fits (exponential, censored MLE)": pd.concat(fits, names=["scenario"]),
        },
    )
    # Written first, printed after: a closed terminal pipe cannot lose the report.
    _print_table(comparison)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print()
        print(format_summary(comparison, SLO_KPIS).to_string())
    for text in sentences:
        print(f"- {text}")
    print(f"report: {page}")
    return 0


def _summary(scenarios: Sequence[Scenario], outputs: Sequence[dict]) -> dict:
    """The scenarios' KPIs, their comparison (bootstrap intervals, tests against the
    first) and the figures drawn from them as PNGs (all but the capacity plans')."""
    from simkit import analysis
    from simkit.plotting import (
        plot_error_budget,
        plot_kpi_comparison,
        plot_latency_distribution,
        plot_pareto,
    )
    from simkit.report import png_data

    names = [s.name for s in scenarios]
    kpis = pd.concat([o["kpis"] for o in outputs], ignore_index=True)
    intervals = pd.concat([o["intervals"] for o in outputs])
    comparison = analysis.compare(kpis, paired=True, intervals=intervals)
    means = kpis.groupby("scenario", sort=False).mean(numeric_only=True).reset_index()
    shown = ("slo_good_minutes_fraction", "availability", "latency_p99_s", "pages", "cost_usd")
    figures = {
        "kpis": plot_kpi_comparison(comparison, shown),
        "minute_p99": plot_latency_distribution(
            {name: o["minute_p99"] for name, o in zip(names, outputs, strict=True)},
            scenarios[0].slo.latency_p99_s,
        ),
        "budgets": plot_error_budget(
            {name: o["budget"] for name, o in zip(names, outputs, strict=True)}
        ),
        "pareto": plot_pareto(means),
    }
    return {
        "kpis": kpis,
        "comparison": comparison,
        "png": {key: png_data(fig) for key, fig in figures.items()},
        "series": [o["series"] for o in outputs],
    }


def _plan_table(plans: dict, checks: dict) -> pd.DataFrame:
    """The capacity plans and their checks, one column per scenario."""
    return pd.DataFrame(
        {
            name: {
                "seasonal peak [req/s]": plan.peak_rate_rps,
                "fixed instances, seasonal day (simulated)": plan.value,
                "share of replications meeting the SLO": plan.achieved,
                "p99 at that share [s]": plan.latency_p99_s,
                "cost [USD/h]": plan.cost_usd_per_h,
                "cost [USD/month]": plan.cost_usd_per_month,
                "fixed instances, constant peak (simulated)": checks[name][0].value,
                "fixed instances, constant peak (Erlang C)": checks[name][1],
            }
            for name, plan in plans.items()
        }
    )


def _run_info(args: argparse.Namespace, duration_s: float) -> dict[str, str]:
    """The run's settings as the report lists them."""
    return {
        "seed": str(args.seed),
        "duration": format_duration(duration_s),
        "step": str(args.step),
        "replications": str(args.replications),
        "trace": args.trace or "synthetic workload",
        "capacity plan": (
            "fewest fixed instances meeting the SLO in >= 95 % of "
            f"{min(args.replications, 16)} replications of the first "
            f"{format_duration(min(duration_s, 86400.0))} of the scenario's workload "
            "(seasonality, noise, flash crowds), checked against Erlang C for its peak "
            "held constant (1 h, 8 replications)"
        ),
        "failure fits": f"28 days, {args.replications} replications, 1 s resolution",
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``simkit`` console script."""
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _cmd_run(args)
        return _cmd_compare(args)
    except SimkitError as exc:
        print(f"simkit: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # stdout closed early (e.g. piped into `head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no failing flush of a dead pipe at exit
        return 0
    except OSError as exc:  # readers turn OSError into SimkitError: this is --out
        reason = " ".join(str(exc.strerror or exc).split())
        print(f"simkit: error: --out = {args.out!r} cannot be written: {reason}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("simkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
