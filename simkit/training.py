"""Training the learned scaling policy: cross-entropy policy search in simulation.

The policy itself (its floor and the meaning of its five parameters) is
:mod:`simkit.autoscaling.learned`; this module finds the parameters and sits
above the engine (it calls :func:`simkit.simulate`; the engine never imports it).

:func:`train` finds the five parameters with the cross-entropy method
(Rubinstein & Kroese, *The Cross-Entropy Method*, Springer 2004; the smoothed,
diagonal-Gaussian form of de Boer et al., "A tutorial on the cross-entropy
method", Ann. Oper. Res. 134, 2005) in a transformed space where every
parameter is a logistic function of an unbounded coordinate.  A candidate is
scored by simulating it (:func:`simkit.simulate`) on synthetic traffic only: the
base scenario with workload, HPA target and start-up time drawn afresh each
generation (:func:`training_tasks`), every candidate of a generation on the same
tasks and seeds (common random numbers), objective
``cost_usd + penalty_usd_per_slo_minute x slo_minutes_violated`` (mean per task
and replication).  Everything is NumPy; the same seed gives the same parameters.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simkit.analysis.kpis import kpis as kpi_table
from simkit.engine import DEFAULT_START, simulate
from simkit.scenario import Learned, Scenario

__all__ = [
    "DEFAULT_PENALTY_USD_PER_SLO_MINUTE",
    "SEARCH_SPACE",
    "TRAINING_RANGES",
    "Task",
    "from_search_space",
    "objective",
    "to_search_space",
    "train",
    "training_tasks",
]

#: Price of one SLO-violating minute [USD].  Burning the whole 28-day error budget
#: of a 99.9 % SLO (0.1 % of 40 320 min = 40.3 min) is priced like running the
#: production baseline fleet for that window (3 pods x 672 h x 0.0416 USD/h =
#: 83.9 USD), i.e. about 2.08 USD per minute: an assumption, rounded to 2.
DEFAULT_PENALTY_USD_PER_SLO_MINUTE = 2.0

#: Search bounds of each parameter and the scale it is searched on.  The long
#: window is searched as a multiple of the short one, so ``long >= short`` always.
SEARCH_SPACE: tuple[tuple[str, float, float, str], ...] = (
    ("headroom", 0.5, 3.0, "linear"),  # [-]
    ("trend_gain", 0.0, 10.0, "linear"),  # [-]
    ("short_window_s", 15.0, 3600.0, "log"),  # [s]
    ("long_to_short_ratio", 1.0, 100.0, "log"),  # [-], long_window_s / short_window_s
    ("target_utilization", 0.3, 0.95, "linear"),  # [-]
)

#: Ranges the synthetic training tasks are drawn from (uniform; ``log`` = log-uniform).
#: Workload fields are ``workload.*``; ``target_cpu_utilization_percent`` and
#: ``startup_s`` are ``autoscaling.*`` (domain randomization of the HPA it works under).
TRAINING_RANGES: dict[str, tuple[float, float, str]] = {
    "mean_rate_rps": (15.0, 90.0, "log"),
    "diurnal_amplitude": (0.2, 0.8, "linear"),
    "peak_hour_utc": (0.0, 23.99, "linear"),
    "weekend_factor": (0.6, 1.0, "linear"),
    "trend_per_week": (-0.1, 0.3, "linear"),
    "noise_sd": (0.05, 0.35, "linear"),
    "noise_correlation_s": (60.0, 3600.0, "log"),
    "flash_crowds_per_day": (0.0, 4.0, "linear"),
    "flash_crowd_multiplier": (1.5, 4.0, "linear"),
    "flash_crowd_duration_s": (120.0, 3600.0, "log"),
    "target_cpu_utilization_percent": (60.0, 90.0, "linear"),
    "startup_s": (30.0, 150.0, "log"),
}
_AUTOSCALING_FIELDS = ("target_cpu_utilization_percent", "startup_s")
#: HPA ceiling during training, so the ceiling rarely binds at the largest mean rates.
TRAINING_MAX_REPLICAS = 40


# --------------------------------------------------------------------------- search space


def _logit(u: np.ndarray) -> np.ndarray:
    return np.log(u) - np.log1p(-u)


def from_search_space(z: np.ndarray) -> dict[str, float]:
    """Parameters of the policy at unbounded search coordinates ``z`` (5 values).

    Each coordinate maps through the logistic function onto its bounds in
    :data:`SEARCH_SPACE`, on a linear or logarithmic scale.
    """
    z = np.asarray(z, dtype=np.float64)
    u = 1.0 / (1.0 + np.exp(-z))
    values = {}
    for (name, lo, hi, scale), ui in zip(SEARCH_SPACE, u, strict=True):
        if scale == "log":
            values[name] = float(math.exp(math.log(lo) + ui * (math.log(hi) - math.log(lo))))
        else:
            values[name] = float(lo + ui * (hi - lo))
    ratio = values.pop("long_to_short_ratio")
    values["long_window_s"] = values["short_window_s"] * ratio
    return values


def to_search_space(params: Learned) -> np.ndarray:
    """Search coordinates of ``params`` (values outside the bounds are clipped into them)."""
    values = {
        "headroom": params.headroom,
        "trend_gain": params.trend_gain,
        "short_window_s": params.short_window_s,
        "long_to_short_ratio": params.long_window_s / params.short_window_s,
        "target_utilization": params.target_utilization,
    }
    z = []
    for name, lo, hi, scale in SEARCH_SPACE:
        v = values[name]
        if scale == "log":
            u = (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo))
        else:
            u = (v - lo) / (hi - lo)
        z.append(min(max(u, 1e-3), 1.0 - 1e-3))
    return _logit(np.array(z))


def _learned(values: dict[str, float]) -> Learned:
    # Round the windows to whole seconds: the profiles store them as such.
    short = max(round(values["short_window_s"]), 15)
    long = max(round(values["long_window_s"]), short)
    return Learned(
        headroom=round(values["headroom"], 4),
        trend_gain=round(values["trend_gain"], 4),
        short_window_s=float(short),
        long_window_s=float(long),
        target_utilization=round(values["target_utilization"], 4),
    )


# --------------------------------------------------------------------------- training tasks


@dataclass(frozen=True)
class Task:
    """One synthetic training run: a scenario, its simulation seed and start."""

    scenario: Scenario
    seed: int
    start: pd.Timestamp


def _draw(rng: np.random.Generator, lo: float, hi: float, scale: str) -> float:
    if scale == "log":
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return float(rng.uniform(lo, hi))


def training_tasks(base_scenario: Scenario, seed: int, generation: int, n: int) -> list[Task]:
    """The synthetic tasks of one generation: randomized traffic and HPA, fresh seeds.

    Parameters
    ----------
    base_scenario : Scenario
        Everything not drawn from :data:`TRAINING_RANGES` (service, failures,
        database, cost, SLO) comes from here; ``max_replicas`` is raised to
        :data:`TRAINING_MAX_REPLICAS`.
    seed : int
        Root seed of the training run.
    generation : int
        Generation index; tasks come from ``default_rng([seed, generation])``.
    n : int
        Number of tasks.

    Returns
    -------
    list of Task
        Scenarios with ``autoscaling.policy = "reactive"`` (the caller sets the
        policy), a simulation seed and a start on a random day of the week.
    """
    rng = np.random.default_rng([seed, generation])
    tasks = []
    for _ in range(n):
        drawn = {k: _draw(rng, *spec) for k, spec in TRAINING_RANGES.items()}
        changes: dict[str, object] = {
            f"workload__{k}": v for k, v in drawn.items() if k not in _AUTOSCALING_FIELDS
        }
        changes["autoscaling__target_cpu_utilization_percent"] = round(
            drawn["target_cpu_utilization_percent"]
        )
        changes["autoscaling__startup_s"] = round(drawn["startup_s"], 1)
        changes["autoscaling__max_replicas"] = max(
            TRAINING_MAX_REPLICAS, base_scenario.autoscaling.max_replicas
        )
        changes["autoscaling__policy"] = "reactive"
        scenario = base_scenario.replace(**changes)
        sim_seed = int(rng.integers(0, 2**31 - 1))
        start = DEFAULT_START + pd.Timedelta(days=int(rng.integers(0, 7)))
        tasks.append(Task(scenario, sim_seed, start))
    return tasks


def objective(
    candidates: Sequence[Learned | None],
    tasks: Sequence[Task],
    *,
    duration: str | float = "1D",
    step: str | float = "15s",
    replications: int = 4,
    penalty_usd_per_slo_minute: float = DEFAULT_PENALTY_USD_PER_SLO_MINUTE,
    workers: int = 1,
) -> np.ndarray:
    """Mean ``cost_usd + penalty x slo_minutes_violated`` of each candidate [USD].

    Parameters
    ----------
    candidates : sequence of Learned or None
        Policy parameters; ``None`` scores the reactive HPA alone.
    tasks : sequence of Task
        Every candidate runs on every task with the task's seed (common random numbers).
    duration, step : str or float
        Simulated time and output step of each run.
    replications : int
        Replications per task.
    penalty_usd_per_slo_minute : float
        Price of one SLO-violating minute [USD].
    workers : int
        Processes to run the simulations in (1: this process).  The result does
        not depend on it.

    Returns
    -------
    numpy.ndarray
        Objective per candidate [USD per run], mean over tasks and replications.
    """
    with _pool(workers) as pool:
        return _objective(
            candidates, tasks, duration, step, replications, penalty_usd_per_slo_minute, pool
        )


@contextlib.contextmanager
def _pool(workers: int) -> Iterator[Executor | None]:
    """A pool of ``workers`` spawned processes, or ``None`` for this process."""
    if workers <= 1:
        yield None
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield pool


def _objective(
    candidates: Sequence[Learned | None],
    tasks: Sequence[Task],
    duration: str | float,
    step: str | float,
    replications: int,
    penalty_usd_per_slo_minute: float,
    pool: Executor | None,
) -> np.ndarray:
    jobs = [
        (task, params, duration, step, replications, penalty_usd_per_slo_minute)
        for task in tasks
        for params in candidates
    ]
    values = list(map(_score, jobs) if pool is None else pool.map(_score, jobs))
    return np.asarray(values).reshape(len(tasks), len(candidates)).mean(axis=0)


def _score(job: tuple[Task, Learned | None, str | float, str | float, int, float]) -> float:
    """Objective of one candidate on one task [USD per run], mean over replications."""
    task, params, duration, step, replications, penalty = job
    scenario = task.scenario
    if params is not None:
        scenario = scenario.replace(autoscaling__policy="learned", learned=_as_dict(params))
    result = simulate(
        scenario,
        duration=duration,
        step=step,
        replications=replications,
        seed=task.seed,
        start=task.start,
    )
    kpis = kpi_table(result)
    return float((kpis["cost_usd"] + penalty * kpis["slo_minutes_violated"]).mean())


def _as_dict(params: Learned) -> dict[str, float]:
    return {
        "headroom": params.headroom,
        "trend_gain": params.trend_gain,
        "short_window_s": params.short_window_s,
        "long_window_s": params.long_window_s,
        "target_utilization": params.target_utilization,
    }


# --------------------------------------------------------------------------- the search


def train(
    base_scenario: Scenario,
    *,
    iterations: int = 9,
    population: int = 10,
    seed: int = 0,
    elite_fraction: float = 0.25,
    tasks_per_generation: int = 6,
    duration: str | float = "1D",
    step: str | float = "15s",
    replications: int = 4,
    penalty_usd_per_slo_minute: float = DEFAULT_PENALTY_USD_PER_SLO_MINUTE,
    initial: Learned | None = None,
    initial_sd: float = 1.0,
    workers: int = 1,
    smoothing: float = 0.7,
    min_sd: float = 0.05,
    progress: Callable[[dict[str, float]], None] | None = None,
) -> tuple[Learned, pd.DataFrame]:
    """Find the learned policy's parameters with the cross-entropy method.

    Each generation draws ``population`` candidates from a diagonal Gaussian over
    the search coordinates (:func:`from_search_space`), scores them and the
    current mean with :func:`objective` on the generation's synthetic
    :func:`training_tasks` (common random numbers), and moves the Gaussian
    towards the ``elite_fraction`` best: ``m <- a m_elite + (1 - a) m``,
    ``sd <- max(a sd_elite + (1 - a) sd, min_sd)`` with ``a = smoothing``.

    Parameters
    ----------
    base_scenario : Scenario
        The system trained for (e.g. the production profile); see :func:`training_tasks`.
    iterations : int
        Generations.
    population : int
        Candidates per generation (plus the mean and the reactive HPA, scored for the log).
    seed : int
        Root seed: candidates come from ``default_rng(seed)``, tasks from
        ``default_rng([seed, generation])``.
    elite_fraction : float
        Share of the population that updates the Gaussian (at least 2 candidates).
    tasks_per_generation : int
        Synthetic tasks per generation.
    duration, step, replications, penalty_usd_per_slo_minute
        As in :func:`objective`.
    initial : Learned, optional
        Start of the search; default ``base_scenario.learned``.
    initial_sd : float
        Initial standard deviation of every search coordinate.
    workers : int
        Processes for the simulations (see :func:`objective`); no effect on the result.
    smoothing : float
        Weight ``a`` of the elite statistics in the update, in (0, 1].
    min_sd : float
        Lower bound of every standard deviation (keeps the search from freezing).
    progress : callable, optional
        Called with each generation's log row.

    Returns
    -------
    params : Learned
        The mean of the final search distribution.
    log : pandas.DataFrame
        One row per generation: the objective [USD per run] of the reactive HPA
        alone (``objective_reactive``), of the mean (``objective_mean``, the
        parameters entering the generation), of the best candidate, the elite mean
        and the population median, all on the generation's tasks; the mean's
        parameters and the mean search sd.
    """
    if iterations < 1 or population < 2:
        raise ValueError("train needs iterations >= 1 and population >= 2")
    rng = np.random.default_rng(seed)
    mean = to_search_space(initial if initial is not None else base_scenario.learned)
    sd = np.full(mean.size, float(initial_sd))
    n_elite = max(round(elite_fraction * population), 2)
    rows = []
    with _pool(workers) as pool:
        for generation in range(iterations):
            z = mean + sd * rng.standard_normal((population, mean.size))
            candidates = [_learned(from_search_space(zi)) for zi in z]
            centre = _learned(from_search_space(mean))
            tasks = training_tasks(base_scenario, seed, generation, tasks_per_generation)
            scores = _objective(
                [None, centre, *candidates],
                tasks,
                duration,
                step,
                replications,
                penalty_usd_per_slo_minute,
                pool,
            )
            reactive_score, centre_score, scores = scores[0], scores[1], scores[2:]
            order = np.argsort(scores, kind="stable")
            elite = z[order[:n_elite]]
            row = {
                "generation": generation,
                "objective_reactive": reactive_score,
                "objective_mean": centre_score,
                "objective_best": scores[order[0]],
                "objective_elite": scores[order[:n_elite]].mean(),
                "objective_median": float(np.median(scores)),
                **_as_dict(centre),
                "search_sd": float(sd.mean()),
            }
            rows.append(row)
            if progress is not None:
                progress(row)
            mean = smoothing * elite.mean(axis=0) + (1.0 - smoothing) * mean
            sd = np.maximum(smoothing * elite.std(axis=0) + (1.0 - smoothing) * sd, min_sd)
    return _learned(from_search_space(mean)), pd.DataFrame(rows).set_index("generation")
