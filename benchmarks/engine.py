"""Engine throughput, warm and cold, for the three profiles against this machine's np.add.

Prints a table; nothing here is asserted.  Run with ``make bench`` or
``python benchmarks/engine.py [--profiles production development experimental]
[--duration 7D] [--step 1s] [--replications 32] [--repeats 3] [--engine numba] [--year]``.

- **warm**: the best of ``--repeats`` runs in this process, after a small warm-up run
  of the same profile;
- **cold**: the first run in a fresh Python process (``import simkit`` not counted);
  that process also reports its peak memory (resident set size, ``getrusage``); the
  fresh processes run first, before this one has simulated anything;
- **np.add**: this machine's element rate of ``np.add(a, b, out=c)`` on large float64
  arrays, the best of many runs taken before and again after the engine runs (the
  other load on a shared machine only ever makes a run slower), so figures from
  different machines and days compare through the ratio of the two;
- **year** (``--year``, off by default: about 70 s and 8 GiB on this machine class):
  one year of ``--year-profile`` at ``--year-step`` with ``--year-replications``, in a
  fresh process, its time and peak memory.

The process, and the processes it starts, are pinned to one CPU where the OS allows it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

#: Elements per ``np.add`` operand (80 MB each: well beyond the caches).
NP_ADD_ELEMENTS = 10_000_000


def np_add_elements_per_s(n: int = NP_ADD_ELEMENTS, repeats: int = 25) -> float:
    """Best-of-``repeats`` throughput of ``np.add(a, b, out=c)`` on float64.

    Parameters
    ----------
    n : int
        Elements per operand [count].
    repeats : int
        Timed runs; the fastest counts [count].

    Returns
    -------
    float
        Elements added per second [1/s].
    """
    a = np.random.default_rng(0).random(n)
    b = np.random.default_rng(1).random(n)
    c = np.empty_like(a)
    np.add(a, b, out=c)  # touch the output pages before timing
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.add(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
    return n / best


def _peak_rss_mib() -> float:
    """Peak resident set size of this process so far [MiB] (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _idle_ticks() -> dict[int, int]:
    """Idle plus I/O-wait clock ticks of every CPU since boot (Linux ``/proc/stat``)."""
    ticks = {}
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:].isdigit():
                ticks[int(name[3:])] = int(fields[3]) + int(fields[4])
    return ticks


def _pin_to_one_cpu(cpu: int | None = None) -> int | None:
    """Pin this process (and those it starts) to ``cpu``, by default the idlest one.

    Parameters
    ----------
    cpu : int, optional
        CPU number; default the allowed CPU with the most idle time over 0.5 s (on a
        shared machine the other one may be busy), else the first allowed one.

    Returns
    -------
    int or None
        The CPU pinned to; ``None`` where the OS cannot pin.
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = os.sched_getaffinity(0)
    if cpu is None:
        cpu = min(allowed)
        try:
            before = _idle_ticks()
            time.sleep(0.5)
            after = _idle_ticks()
            cpu = max(allowed, key=lambda c: (after.get(c, 0) - before.get(c, 0), -c))
        except (OSError, ValueError, IndexError):
            pass  # no /proc/stat: the first allowed CPU
    os.sched_setaffinity(0, {cpu})
    return cpu


def _one_run(
    profile: str, duration: str, step: str, replications: int, engine: str
) -> dict[str, float]:
    """Time of one ``simulate`` call [s], its size and this process's peak RSS [MiB]."""
    import simkit

    scenario = simkit.load_scenario(profile)
    t0 = time.perf_counter()
    result = simkit.simulate(
        scenario, duration=duration, step=step, replications=replications, engine=engine
    )
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "replica_steps": result.replications * result.n_steps,
        "peak_rss_mib": _peak_rss_mib(),
    }


def _fork_not_vfork() -> None:
    """Given as ``preexec_fn``: makes ``subprocess`` fork instead of vfork.

    A vforked child's ``ru_maxrss`` starts at the parent's peak (Linux carries the
    peak of the address space a process leaves at ``exec`` over); a forked one's at the
    parent's current RSS, which is small while no result is alive (see ``main``).
    """


def _in_fresh_process(
    profile: str, duration: str, step: str, replications: int, engine: str
) -> dict:
    """:func:`_one_run` in a new Python process (cold: no warm-up, nothing cached)."""
    spec = json.dumps([profile, duration, step, replications, engine])
    proc = subprocess.run(
        [sys.executable, __file__, "--child", spec],
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=_fork_not_vfork,  # safe: this process starts no threads
    )
    if proc.returncode != 0:
        raise SystemExit(f"the fresh process for {profile} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.splitlines()[-1])


def _warm(
    profile: str, duration: str, step: str, replications: int, engine: str, repeats: int
) -> dict:
    """Best of ``repeats`` runs in this process after a one-hour warm-up run."""
    import simkit

    simkit.simulate(
        simkit.load_scenario(profile), duration="1h", step=step, replications=2, engine=engine
    )
    runs = [_one_run(profile, duration, step, replications, engine) for _ in range(repeats)]
    best = min(runs, key=lambda run: run["seconds"])
    return {**best, "all_seconds": [run["seconds"] for run in runs]}


def _table(header: list[str], rows: list[list[str]]) -> str:
    """Columns wide enough for their cells, the first left-aligned, the others right."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for r in [header, *rows]:
        cells = [
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its table (``--help`` for the options)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profiles", nargs="+", default=["production", "development", "experimental"]
    )
    parser.add_argument("--duration", default="7D")
    parser.add_argument("--step", default="1s")
    parser.add_argument("--replications", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="warm runs per profile")
    parser.add_argument("--engine", default="numba", help="control loop: numba (default) or numpy")
    parser.add_argument("--year", action="store_true", help="also time one year (slow, ~8 GiB)")
    parser.add_argument("--year-profile", default="production")
    parser.add_argument("--year-step", default="15s")
    parser.add_argument("--year-replications", type=int, default=8)
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: one run, JSON out
    args = parser.parse_args(argv)
    if args.child:  # pinned already: affinity is inherited
        print(json.dumps(_one_run(*json.loads(args.child))))
        return
    cpu = _pin_to_one_cpu()
    load_before = os.getloadavg()
    add_before = np_add_elements_per_s()
    size = (args.duration, args.step, args.replications, args.engine)
    # the fresh processes first, while this one holds no result (their peak RSS)
    colds = [_in_fresh_process(profile, *size) for profile in args.profiles]
    year = None
    if args.year:
        year = _in_fresh_process(
            args.year_profile, "365D", args.year_step, args.year_replications, args.engine
        )
    warms = [_warm(profile, *size, args.repeats) for profile in args.profiles]
    rows = list(zip(args.profiles, warms, colds, strict=True))
    add_after = np_add_elements_per_s()
    add_rate = max(add_before, add_after)

    load_after = os.getloadavg()
    print(
        f"engine throughput ({args.engine} control loop): {args.duration} at {args.step}, "
        f"{args.replications} replications, "
        f"on CPU {cpu} of {os.cpu_count()}; warm = best of {args.repeats} runs after a "
        "warm-up, cold = first run in a fresh process"
    )
    header = ["profile", "replica-steps", "warm [s]", "warm [M/s]", "warm/np.add", "cold [s]",
              "cold [M/s]", "cold/np.add", "cold/warm", "cold peak RSS [MiB]"]  # fmt: skip
    cells = []
    for profile, warm, cold in rows:
        steps = warm["replica_steps"]
        w, c = steps / warm["seconds"], steps / cold["seconds"]
        warm_cells = [f"{warm['seconds']:.3f}", f"{w / 1e6:.2f}", f"{w / add_rate:.4f}"]
        cold_cells = [f"{cold['seconds']:.3f}", f"{c / 1e6:.2f}", f"{c / add_rate:.4f}"]
        tail = [f"{c / w:.2f}", f"{cold['peak_rss_mib']:.0f}"]
        cells.append([profile, f"{steps:,}", *warm_cells, *cold_cells, *tail])
    print(_table(header, cells))
    for profile, warm, _ in rows:
        runs = ", ".join(f"{s:.3f}" for s in warm["all_seconds"])
        print(f"  warm runs of {profile}: {runs} s")
    print(
        f"np.add: {add_rate / 1e6:.0f} M float64 elements/s (best of 25 before the engine runs "
        f"{add_before / 1e6:.0f} M/s, after {add_after / 1e6:.0f} M/s); 1-minute load "
        f"average {load_before[0]:.2f} before, {load_after[0]:.2f} after (other work on the "
        "machine slows the engine more than the best-of-many np.add)"
    )
    if year is None:
        print(
            "year run skipped (--year: production, 1 year at 15 s, 8 replications, in a fresh "
            "process; about 70 s and 8 GiB peak on this machine class)"
        )
        return
    print(
        f"year run: {args.year_profile}, 365 days at {args.year_step}, "
        f"{args.year_replications} replications ({year['replica_steps']:,} replica-steps): "
        f"{year['seconds']:.1f} s ({year['replica_steps'] / year['seconds'] / 1e6:.2f} M/s), "
        f"peak RSS {year['peak_rss_mib'] / 1024:.2f} GiB"
    )


if __name__ == "__main__":
    main()
