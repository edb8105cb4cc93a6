"""Request-level discrete-event reference for the M(t)/M/c(t)/K queue, on Ciw (test extra).

The exact transient solver and the fast engine are checked against this simulation of
single requests. Model, the same as the exact solver's:

* arrivals: Poisson with a piecewise-constant rate ``rate_rps[i]`` on
  ``[breaks_s[i], breaks_s[i + 1])`` (the last piece runs to ``horizon_s``), none after
  ``horizon_s``;
* ``servers[i]`` identical servers on the same pieces (the last count stays on after the
  horizon, until the system is empty), each serving at exponential rate
  ``service_rate_rps``;
* one FCFS line holding at most ``capacity`` requests (waiting plus in service); an arrival
  that finds ``capacity`` requests is lost;
* the servers always serve the first ``min(n, c(t))`` requests in line: when ``c`` drops
  below the number in service, the requests in service that arrived last go back to the
  head of the queue in arrival order, and resume their remaining service first when a
  server frees (preemptive resume, which for exponential service is the same in
  distribution as a fresh draw);
* the system starts empty at ``t = 0``; the response time of an accepted request is its
  departure minus its arrival time. Every request that arrives before ``horizon_s`` is
  followed to its departure, so the last windows are not censored.

Ciw does this with a ``ciw.Schedule(..., preemption="resume")``: at each shift change it
interrupts every request in service, sorts them by arrival date, gives the new servers to
the first ones and keeps the rest in an interrupted list that is served before any waiting
request (``Node.take_servers_off_duty``, ``begin_service_if_possible_change_shift`` and
``begin_service_if_possible_release``). Ciw's ``"restart"`` would repeat the *same* service
time (preemptive repeat-identical), which is not the model for exponential service.

Two small subclasses change no semantics: :class:`_FifoNode` finds the first waiting request
in O(1) instead of scanning the whole line at every service start (Ciw's ``FIFO`` discipline
over ``[ind for ind in individuals if not ind.server]`` is O(n), ruinous with a backlog of
thousands), and :class:`_RecordingExit` keeps (arrival, departure) pairs instead of every
finished request object. ``fast=False`` runs stock Ciw; ``tests/test_des_reference.py``
checks that both give identical results.

Random numbers: the arrival and service streams are NumPy generators spawned from the run's
seed (``numpy.random.SeedSequence``), independent between seeds. Ciw itself only draws
(from its global ``random`` stream, seeded per run) to break ties between simultaneous
events, which have probability zero here.

Ciw handles some 25,000-30,000 requests per second on one core, so hundreds of seeds of
hour-long scenarios take about an hour on two cores. :func:`simulate_queues_numpy` is a
second engine for the same model, vectorized over seeds (uniformization), several times
faster; the tests hold both engines to the same closed forms.

Statistics: :func:`window_quantiles` and :func:`window_means` pool the responses of the
arrivals in each time window over all seeds and give a percentile bootstrap interval that
resamples whole seeds (the independent units).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

import ciw
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

__all__ = [
    "ExponentialService",
    "PiecewisePoissonArrivals",
    "QueueRun",
    "WindowStatistic",
    "run_ciw",
    "run_queue",
    "simulate_queue",
    "simulate_queues_numpy",
    "stationary_mmc_counts",
    "window_means",
    "window_quantiles",
]

FloatArray = NDArray[np.float64]

_LAST_SHIFT_END_S = 1e15  # Ciw schedules are cyclic: make the last shift last "forever"
_BLOCK = 1 << 14  # random variates drawn per NumPy call
_CHECK = 64  # steps between checks of the numpy engine's buffers and end


# --------------------------------------------------------------------------- random streams


class _StandardExponentials:
    """Standard exponential variates from a NumPy generator, drawn in blocks of floats."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._buffer: list[float] = []
        self._next = 0

    def __call__(self) -> float:
        if self._next == len(self._buffer):
            self._buffer = self._rng.standard_exponential(_BLOCK).tolist()
            self._next = 0
        value = self._buffer[self._next]
        self._next += 1
        return value


class PiecewisePoissonArrivals(ciw.dists.Distribution):
    """Inter-arrival times of a Poisson process with a piecewise-constant rate.

    Ciw asks for the next inter-arrival time at each arrival, passing the current time
    ``t``; the next arrival is drawn exactly by inverting the cumulative intensity
    ``Lambda``: with ``E ~ Exp(1)`` it is the ``s`` with ``Lambda(s) = Lambda(t) + E``.
    No arrival comes at or after ``horizon_s`` (``inf`` is returned).

    Parameters
    ----------
    breaks_s : sequence of float
        Piece starts [s], ``breaks_s[0] == 0``, strictly increasing, all ``< horizon_s``.
    rate_rps : sequence of float
        Arrival rate on each piece [1/s], finite and ``>= 0``.
    horizon_s : float
        End of the arrival process [s].
    rng : numpy.random.Generator
        The stream to draw from.
    """

    def __init__(
        self,
        breaks_s: Sequence[float],
        rate_rps: Sequence[float],
        horizon_s: float,
        rng: np.random.Generator,
    ) -> None:
        self.breaks_s = [float(b) for b in breaks_s]
        self.rate_rps = [float(r) for r in rate_rps]
        ends = [*self.breaks_s[1:], float(horizon_s)]
        cumulative = [0.0]
        for start, end, rate in zip(self.breaks_s, ends, self.rate_rps, strict=True):
            cumulative.append(cumulative[-1] + rate * (end - start))
        self._cumulative = cumulative[:-1]  # Lambda at each piece start
        self._total = cumulative[-1]  # Lambda(horizon_s)
        self._exponential = _StandardExponentials(rng)

    def __repr__(self) -> str:
        return f"PiecewisePoissonArrivals({len(self.breaks_s)} pieces)"

    def sample(self, t: float | None = None, ind: object = None) -> float:
        now = 0.0 if t is None else float(t)
        piece = bisect.bisect_right(self.breaks_s, now) - 1
        target = (
            self._cumulative[piece]
            + self.rate_rps[piece] * (now - self.breaks_s[piece])
            + self._exponential()
        )
        if target >= self._total:
            return math.inf
        # the last piece starting at or below the target; pieces of rate 0 have the same
        # cumulative value as the next one, so bisect_right never stops on them
        piece = bisect.bisect_right(self._cumulative, target) - 1
        arrival = self.breaks_s[piece] + (target - self._cumulative[piece]) / self.rate_rps[piece]
        return max(arrival - now, 0.0)


class ExponentialService(ciw.dists.Distribution):
    """Exponential service times at ``rate_rps`` [1/s] from a NumPy generator."""

    def __init__(self, rate_rps: float, rng: np.random.Generator) -> None:
        self.rate_rps = float(rate_rps)
        self._exponential = _StandardExponentials(rng)

    def __repr__(self) -> str:
        return f"ExponentialService(rate_rps={self.rate_rps})"

    def sample(self, t: float | None = None, ind: object = None) -> float:
        return self._exponential() / self.rate_rps

    @property
    def mean(self) -> float:
        return 1.0 / self.rate_rps


# --------------------------------------------------------------------------- Ciw pieces


class _FifoNode(ciw.Node):
    """Ciw's node with an O(1) choice of the next FCFS request (same choice as stock Ciw).

    Requests are kept in arrival order, and the ones in service or interrupted are always
    the first ``number_in_service + number_interrupted_individuals`` of them, so the first
    waiting request is the next one in the list.
    """

    def choose_next_customer(self) -> ciw.Individual | None:
        line = self.individuals[0]
        first_waiting = self.number_in_service + self.number_interrupted_individuals
        if first_waiting < len(line):
            return line[first_waiting]
        return None


class _RecordingExit(ciw.ExitNode):
    """Keeps (arrival, departure) of finished requests and arrival times of lost ones."""

    def __init__(self) -> None:
        super().__init__()
        self.arrival_s: list[float] = []
        self.departure_s: list[float] = []
        self.lost_s: list[float] = []

    def accept(self, next_individual: ciw.Individual, completed: bool = True) -> None:
        next_individual.node = -1
        self.number_of_individuals += 1
        record = next_individual.data_records[-1]
        if completed:
            self.number_of_completed_individuals += 1
            self.arrival_s.append(record.arrival_date)
            self.departure_s.append(record.exit_date)
        else:  # rejected: the only other way out in this model
            self.lost_s.append(record.arrival_date)


@dataclass(frozen=True)
class QueueRun:
    """One replication.

    Attributes
    ----------
    arrival_s : ndarray
        Arrival times of accepted requests [s], sorted.
    response_s : ndarray
        Their response times (departure minus arrival) [s].
    lost_s : ndarray
        Arrival times of lost requests (the line was full) [s], sorted.
    records : list of ciw.DataRecord or None
        Every Ciw record ("service", "interrupted service", "rejection") when run with
        ``trace=True``, else None.
    """

    arrival_s: FloatArray
    response_s: FloatArray
    lost_s: FloatArray
    records: list | None = None


def _check_pieces(
    breaks_s: ArrayLike, servers: ArrayLike, horizon_s: float
) -> tuple[FloatArray, NDArray[np.int64]]:
    breaks = np.asarray(breaks_s, dtype=np.float64)
    counts = np.asarray(servers)
    if breaks.ndim != 1 or breaks.size == 0 or breaks[0] != 0.0:
        raise ValueError(f"breaks_s must be a 1-D array starting at 0, got {breaks_s!r}")
    if np.any(np.diff(breaks) <= 0) or not breaks[-1] < horizon_s:
        raise ValueError("breaks_s must be strictly increasing and below horizon_s")
    if counts.shape != breaks.shape or np.any(counts < 0) or np.any(counts != np.round(counts)):
        raise ValueError("servers must be one integer >= 0 per piece")
    if counts[-1] < 1:
        raise ValueError("the last server count must be >= 1 so that the system empties")
    return breaks, counts.astype(np.int64)


def _schedule(breaks: FloatArray, counts: NDArray[np.int64]) -> ciw.Schedule:
    """Ciw shifts for the server counts, merging consecutive equal counts."""
    keep = np.r_[True, counts[1:] != counts[:-1]]
    starts, numbers = breaks[keep], counts[keep]
    shift_end_dates = [*(float(s) for s in starts[1:]), _LAST_SHIFT_END_S]
    return ciw.Schedule(
        numbers_of_servers=[int(c) for c in numbers],
        shift_end_dates=shift_end_dates,
        preemption="resume",
    )


def run_ciw(
    breaks_s: ArrayLike,
    servers: ArrayLike,
    capacity: int | None,
    horizon_s: float,
    arrivals: ciw.dists.Distribution,
    services: ciw.dists.Distribution,
    ciw_seed: int = 0,
    *,
    fast: bool = True,
    trace: bool = False,
) -> QueueRun:
    """Run one Ciw replication with the given arrival and service distributions.

    ``arrivals`` must return ``inf`` once no arrival is left before ``horizon_s``; the run
    then goes on until every accepted request has left. ``capacity`` is the most requests
    in the system (None for no limit). ``fast=False`` uses stock Ciw nodes; ``trace=True``
    keeps every Ciw record (slow, memory hungry: for small tests).
    """
    breaks, counts = _check_pieces(breaks_s, servers, horizon_s)
    if capacity is not None and (int(capacity) != capacity or capacity < 1):
        raise ValueError(f"capacity must be None or an integer >= 1, got {capacity!r}")
    network = ciw.create_network(
        arrival_distributions=[arrivals],
        service_distributions=[services],
        number_of_servers=[_schedule(breaks, counts)],
        system_capacity=math.inf if capacity is None else int(capacity),
    )
    ciw.seed(int(ciw_seed))
    simulation = ciw.Simulation(
        network,
        node_class=_FifoNode if fast else None,
        exit_node_class=None if trace else _RecordingExit,
    )
    node = simulation.transitive_nodes[0]
    until_s, step_s = float(horizon_s), float(horizon_s)
    simulation.simulate_until_max_time(until_s)
    while node.number_of_individuals > 0:  # drain: arrivals have stopped at the horizon
        until_s += step_s
        step_s *= 2.0
        simulation.simulate_until_max_time(until_s)

    if trace:
        records = simulation.get_all_records()
        done = [r for r in records if r.record_type == "service"]
        arrival = np.array([r.arrival_date for r in done], dtype=np.float64)
        departure = np.array([r.exit_date for r in done], dtype=np.float64)
        lost = np.array([r.arrival_date for r in records if r.record_type == "rejection"])
    else:
        exit_node = simulation.nodes[-1]
        arrival = np.array(exit_node.arrival_s, dtype=np.float64)
        departure = np.array(exit_node.departure_s, dtype=np.float64)
        lost = np.array(exit_node.lost_s, dtype=np.float64)
        records = None
    order = np.argsort(arrival, kind="stable")
    return QueueRun(
        arrival_s=arrival[order],
        response_s=(departure - arrival)[order],
        lost_s=np.sort(lost.astype(np.float64)),
        records=records,
    )


def _seed_sequence(seed: int | np.random.SeedSequence) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    return np.random.SeedSequence(seed)


def _child(parent: np.random.SeedSequence, index: int) -> np.random.SeedSequence:
    """The ``index``-th child of ``parent``, without changing ``parent``'s spawn counter."""
    return np.random.SeedSequence(parent.entropy, spawn_key=(*parent.spawn_key, index))


def run_queue(
    breaks_s: ArrayLike,
    rate_rps: ArrayLike,
    servers: ArrayLike,
    service_rate_rps: float,
    capacity: int | None,
    horizon_s: float,
    seed: int | np.random.SeedSequence,
    *,
    fast: bool = True,
    trace: bool = False,
) -> QueueRun:
    """One replication of the M(t)/M/c(t)/K queue (see the module docstring)."""
    rates = np.asarray(rate_rps, dtype=np.float64)
    if rates.shape != np.shape(breaks_s) or not np.all(np.isfinite(rates) & (rates >= 0)):
        raise ValueError("rate_rps must be one finite rate >= 0 per piece")
    if not (math.isfinite(service_rate_rps) and service_rate_rps > 0):
        raise ValueError(f"service_rate_rps must be finite and > 0, got {service_rate_rps!r}")
    root = _seed_sequence(seed)
    arrivals = PiecewisePoissonArrivals(
        np.asarray(breaks_s, dtype=np.float64).tolist(),
        rates.tolist(),
        horizon_s,
        np.random.default_rng(_child(root, 0)),
    )
    services = ExponentialService(service_rate_rps, np.random.default_rng(_child(root, 1)))
    ciw_seed = int(_child(root, 2).generate_state(1)[0])
    return run_ciw(
        breaks_s,
        servers,
        capacity,
        horizon_s,
        arrivals,
        services,
        ciw_seed,
        fast=fast,
        trace=trace,
    )


def simulate_queue(
    breaks_s: ArrayLike,
    rate_rps: ArrayLike,
    servers: ArrayLike,
    service_rate_rps: float,
    capacity: int | None,
    horizon_s: float,
    seed: int | np.random.SeedSequence,
) -> tuple[FloatArray, FloatArray]:
    """Arrival times [s] and response times [s] of the accepted requests of one replication.

    Parameters
    ----------
    breaks_s : array_like of float
        Piece starts [s]: ``0 = breaks_s[0] < breaks_s[1] < ... < horizon_s``.
    rate_rps : array_like of float
        Poisson arrival rate on each piece [1/s].
    servers : array_like of int
        Number of servers on each piece [-]; the last count stays after the horizon.
    service_rate_rps : float
        Exponential service rate of one server ``mu`` [1/s].
    capacity : int or None
        Most requests in the system ``K`` (None: no limit); arrivals finding ``K`` are lost.
    horizon_s : float
        Arrivals stop here [s]; every accepted request is followed to its departure.
    seed : int or numpy.random.SeedSequence
        Replication seed; different seeds give independent streams.
    """
    run = run_queue(breaks_s, rate_rps, servers, service_rate_rps, capacity, horizon_s, seed)
    return run.arrival_s, run.response_s


# --------------------------------------------------------------------------- numpy engine


def simulate_queues_numpy(
    breaks_s: ArrayLike,
    rate_rps: ArrayLike,
    servers: ArrayLike,
    service_rate_rps: float,
    capacity: int | None,
    horizon_s: float,
    seeds: Sequence[int | np.random.SeedSequence],
    initial: Sequence[int] | None = None,
) -> list[tuple[FloatArray, FloatArray, int]]:
    """The same model as :func:`simulate_queue`, many seeds at once, vectorized over seeds.

    A second, fast engine, not the reference: checked against the same closed forms as the
    Ciw engine and against Ciw itself. It uniformizes the queue at the constant rate
    ``Lambda = max(rate) + max(servers) * mu``: every seed's candidate events form a
    Poisson process of rate ``Lambda``; at a candidate time ``t`` with ``n`` requests in
    line, it is an arrival with probability ``rate(t) / Lambda`` (none after ``horizon_s``),
    the departure of the request at place ``j < min(n, c(t))`` with probability
    ``mu / Lambda`` each, else nothing. This is exact (thinning): each of the first
    ``min(n, c(t))`` requests leaves at rate ``mu`` whatever happened before, which is the
    preemptive-resume FCFS model for exponential service. The line is a ring buffer of
    arrival times per seed; a departure from place ``j`` shifts places ``0..j-1`` by one.

    ``initial`` gives each seed's number of requests in line at time 0 (default none),
    e.g. drawn from the stationary distribution; they count as arrived at -1 s, outside
    every window that starts at 0.

    Returns, per seed, (arrival times [s], response times [s], number of lost arrivals).
    The streams differ from the Ciw engine's for the same seed.
    """
    breaks, counts = _check_pieces(breaks_s, servers, horizon_s)
    rates = np.asarray(rate_rps, dtype=np.float64)
    if rates.shape != breaks.shape or not np.all(np.isfinite(rates) & (rates >= 0)):
        raise ValueError("rate_rps must be one finite rate >= 0 per piece")
    mu = float(service_rate_rps)
    if not (math.isfinite(mu) and mu > 0):
        raise ValueError(f"service_rate_rps must be finite and > 0, got {service_rate_rps!r}")
    if capacity is not None and (int(capacity) != capacity or capacity < 1):
        raise ValueError(f"capacity must be None or an integer >= 1, got {capacity!r}")
    limit = math.inf if capacity is None else int(capacity)
    n_seeds = len(seeds)
    rngs = [np.random.default_rng(_child(_seed_sequence(s), 3)) for s in seeds]
    lam_max, c_max = float(rates.max()), int(counts.max())
    total = lam_max + c_max * mu
    rate_of_piece = np.r_[rates, 0.0]  # piece index len(breaks): after the horizon
    servers_of_piece = np.r_[counts, counts[-1]]
    edges = np.r_[breaks, float(horizon_s)]
    expected = float(np.sum(rates * np.diff(edges)))
    out_size = int(expected + 10.0 * math.sqrt(expected) + 100)

    start = np.zeros(n_seeds, dtype=np.int64) if initial is None else np.asarray(initial)
    if start.shape != (n_seeds,) or np.any(start < 0) or np.any(start > limit):
        raise ValueError("initial must give one count in [0, capacity] per seed")
    first = max(int(min(limit, 4096)), int(start.max()) + _CHECK + 1)
    size = 1 << max(4, int(first - 1).bit_length())  # ring buffer per seed
    line = np.where(np.arange(size) < start[:, None], -1.0, 0.0)
    head = np.zeros(n_seeds, dtype=np.int64)
    n = start.astype(np.int64)
    t = np.zeros(n_seeds)
    lost = np.zeros(n_seeds, dtype=np.int64)
    done_count = np.zeros(n_seeds, dtype=np.int64)
    out_arrival = np.zeros((n_seeds, out_size))
    out_departure = np.zeros((n_seeds, out_size))
    places = np.arange(c_max)
    later_places = places[1:]
    rows_of = np.arange(n_seeds)
    step = 0
    gaps = uniforms = np.empty((0, n_seeds))
    while True:
        if step % _CHECK == 0:  # n and done_count grow by at most one per step
            if bool(np.all((t >= horizon_s) & (n == 0))):
                break
            if int(n.max()) + _CHECK >= size and size < limit:
                line, head, size = _grow_ring(line, head, size)
            if int(done_count.max()) + _CHECK >= out_size:
                out_arrival = np.pad(out_arrival, ((0, 0), (0, out_size)))
                out_departure = np.pad(out_departure, ((0, 0), (0, out_size)))
                out_size *= 2
        pos = step % _BLOCK
        if pos == 0:  # draw the next block of steps for every seed
            gaps = np.stack([r.standard_exponential(_BLOCK) for r in rngs], axis=1) / total
            uniforms = np.stack([r.random(_BLOCK) for r in rngs], axis=1) * total
        v = uniforms[pos]
        t += gaps[pos]  # a seed that is done stays done: no arrival, n = 0
        step += 1
        piece = np.searchsorted(edges, t, side="right") - 1
        flat_line = line.reshape(-1)

        rows = rows_of[v < rate_of_piece[piece]]
        if rows.size:
            if limit < math.inf:
                full = n[rows] >= limit
                lost[rows[full]] += 1
                rows = rows[~full]
            flat_line[rows * size + ((head[rows] + n[rows]) & (size - 1))] = t[rows]
            n[rows] += 1

        in_service = np.minimum(n, servers_of_piece[piece])
        place = ((v - lam_max) * (1.0 / mu)).astype(np.int64)  # >= 0 where v >= lam_max
        rows = rows_of[(v >= lam_max) & (place < in_service)]
        if rows.size:
            j = place[rows]
            index = (rows * size)[:, None] + ((head[rows, None] + places) & (size - 1))
            window = flat_line[index]
            leaving = window[np.arange(rows.size), j]
            k = done_count[rows]
            out_arrival[rows, k] = leaving
            out_departure[rows, k] = t[rows]
            done_count[rows] += 1
            # places 1..j take the requests from places 0..j-1 (place 0 is freed)
            window[:, 1:] = np.where(later_places <= j[:, None], window[:, :-1], window[:, 1:])
            flat_line[index] = window
            head[rows] = (head[rows] + 1) & (size - 1)
            n[rows] -= 1

    results = []
    for s in range(n_seeds):
        arrival = out_arrival[s, : done_count[s]]
        order = np.argsort(arrival, kind="stable")
        arrival = arrival[order]
        results.append((arrival, out_departure[s, : done_count[s]][order] - arrival, int(lost[s])))
    return results


def stationary_mmc_counts(
    c: int, lam: float, mu: float, size: int, rng: np.random.Generator
) -> np.ndarray:
    """Numbers in an M/M/c system drawn from its stationary distribution (``lam < c mu``),
    e.g. the ``initial`` state of :func:`simulate_queues_numpy` [count]."""
    a, rho = lam / mu, lam / (c * mu)
    n = np.arange(c + int(np.log(1e-14) / np.log(rho)) + 1)
    log_p = np.where(
        n < c,
        n * np.log(a) - special.gammaln(n + 1),
        c * np.log(a) - special.gammaln(c + 1) + (n - c) * np.log(rho),
    )
    p = np.exp(log_p - log_p.max())
    return rng.choice(n, size=size, p=p / p.sum())


def _grow_ring(
    line: FloatArray, head: NDArray[np.int64], size: int
) -> tuple[FloatArray, NDArray[np.int64], int]:
    """Double every seed's ring buffer, unrolled so that each line starts at place 0."""
    unrolled = np.take_along_axis(line, (head[:, None] + np.arange(size)) & (size - 1), axis=1)
    grown = np.zeros((line.shape[0], 2 * size))
    grown[:, :size] = unrolled
    return grown, np.zeros_like(head), 2 * size


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class WindowStatistic:
    """A statistic of the responses pooled over seeds, per arrival window, with a CI.

    Attributes
    ----------
    edges_s : ndarray, shape (w + 1,)
        Window edges [s]; window ``i`` holds arrivals in ``[edges_s[i], edges_s[i + 1])``.
    q : ndarray, shape (k,)
        Probability levels (quantiles) or an empty array (means).
    estimate, low, high : ndarray, shape (w, k) or (w,)
        Estimate over all seeds and the seed-bootstrap percentile interval [s].
    count : ndarray, shape (w,)
        Number of pooled responses in each window.
    level : float
        Confidence level of ``[low, high]``.
    """

    edges_s: FloatArray
    q: FloatArray
    estimate: FloatArray
    low: FloatArray
    high: FloatArray
    count: NDArray[np.int64]
    level: float


def _split_windows(
    arrival_s: Sequence[ArrayLike], values: Sequence[ArrayLike], edges: FloatArray
) -> list[list[FloatArray]]:
    """``out[w][s]``: the values of seed ``s`` whose arrival falls in window ``w``."""
    if len(arrival_s) != len(values) or len(arrival_s) < 2:
        raise ValueError("need the same number (>= 2) of per-seed arrival and value arrays")
    out: list[list[FloatArray]] = [[] for _ in range(edges.size - 1)]
    for arrival, value in zip(arrival_s, values, strict=True):
        a = np.asarray(arrival, dtype=np.float64)
        v = np.asarray(value, dtype=np.float64)
        if a.shape != v.shape:
            raise ValueError("arrival and value arrays of a seed differ in shape")
        window = np.searchsorted(edges, a, side="right") - 1
        inside = (window >= 0) & (window < edges.size - 1)
        order = np.argsort(window[inside], kind="stable")
        w_sorted, v_sorted = window[inside][order], v[inside][order]
        cuts = np.searchsorted(w_sorted, np.arange(edges.size))
        for w in range(edges.size - 1):
            out[w].append(v_sorted[cuts[w] : cuts[w + 1]])
    return out


def _bootstrap_weights(n_seeds: int, n_boot: int, seed: int) -> NDArray[np.float64]:
    """How often each seed is drawn in each bootstrap replicate, shape (n_boot, n_seeds)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=n_boot).astype(np.float64)


_MAX_CANDIDATES = 4096


def _weighted_quantiles(
    per_seed: list[FloatArray], q: float, weights: NDArray[np.float64]
) -> tuple[float, FloatArray]:
    """Pooled quantile (inverted CDF) and its value in each bootstrap replicate.

    A replicate pools seed ``s`` ``weights[b, s]`` times. Its quantile is the smallest pooled
    value ``x`` with ``sum_s w_s #(seed s <= x) >= q sum_s w_s n_s``, searched among the
    pooled values in a band around the point estimate (widened until every replicate's
    quantile is inside). The band holds at most 4096 candidates (every k-th pooled value
    beyond that), and the replicate's CDF is interpolated linearly between candidates.
    """
    sorted_seeds = [np.sort(v) for v in per_seed]
    sizes = np.array([v.size for v in sorted_seeds], dtype=np.float64)
    total = int(sizes.sum())
    if total == 0:
        return math.nan, np.full(weights.shape[0], math.nan)
    pooled = np.concatenate(sorted_seeds)
    rank = min(max(math.ceil(q * total) - 1, 0), total - 1)
    estimate = float(np.partition(pooled, rank)[rank])

    # seeds are the independent units: standard error of the pooled CDF at the estimate
    below = np.array([np.searchsorted(v, estimate, side="right") for v in sorted_seeds])
    cdf = below.sum() / total
    n_seeds = len(sorted_seeds)
    residual = below - cdf * sizes
    se = math.sqrt(n_seeds / (n_seeds - 1) * float(residual @ residual)) / total
    half_width = max(8.0 * se, 20.0 / total)
    den = weights @ sizes
    while True:
        lo_rank = max(math.floor((q - half_width) * total) - 1, 0)
        hi_rank = min(math.ceil((q + half_width) * total), total - 1)
        band = np.partition(pooled, [lo_rank, hi_rank])[lo_rank : hi_rank + 1]
        band.sort()
        step = max(1, math.ceil(band.size / _MAX_CANDIDATES))
        candidates = np.unique(np.r_[band[::step], band[-1]])
        counts = np.array([np.searchsorted(v, candidates, side="right") for v in sorted_seeds])
        num = weights @ counts.astype(np.float64)  # (boot, candidates)
        reached = num >= q * den[:, None]  # the same float test as ceil(q * n) above
        ok_low = lo_rank == 0 or not bool(np.any(reached[:, 0] & (den > 0)))
        ok_high = hi_rank == total - 1 or bool(np.all(reached[:, -1] | (den == 0)))
        if ok_low and ok_high:
            break
        half_width *= 2.0
    first = np.argmax(reached, axis=1)
    value = candidates[first].astype(np.float64)
    if step > 1:  # interpolate the replicate CDF between the coarse candidates
        prev = np.maximum(first - 1, 0)
        rows = np.arange(first.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            f0, f1 = num[rows, prev] / den, num[rows, first] / den
        x0, x1 = candidates[prev], candidates[first]
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(f1 > f0, (q - f0) / (f1 - f0), 1.0)
        value = np.where(first > 0, x0 + np.clip(frac, 0.0, 1.0) * (x1 - x0), value)
    value[den == 0] = math.nan
    return estimate, value


def _interval(
    estimate: FloatArray | float, replicates: FloatArray, level: float, kind: str
) -> tuple[FloatArray, FloatArray]:
    """Bootstrap interval from the replicates (axis 0): percentile or normal."""
    alpha = (1.0 - level) / 2.0
    if kind == "percentile":
        low, high = np.nanquantile(replicates, [alpha, 1.0 - alpha], axis=0)
        return low, high
    if kind == "normal":
        half = stats.norm.ppf(1.0 - alpha) * np.nanstd(replicates, axis=0, ddof=1)
        return estimate - half, estimate + half
    raise ValueError(f"interval must be 'percentile' or 'normal', got {kind!r}")


def window_quantiles(
    arrival_s: Sequence[ArrayLike],
    response_s: Sequence[ArrayLike],
    windows_s: ArrayLike,
    q: ArrayLike,
    *,
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    interval: str = "percentile",
) -> WindowStatistic:
    """Quantiles of the responses pooled over seeds, per arrival window, with seed-bootstrap CIs.

    Parameters
    ----------
    arrival_s, response_s : sequence of array_like
        One array of arrival times [s] and one of response times [s] per seed.
    windows_s : array_like of float
        Window edges [s], increasing.
    q : float or array_like of float
        Probability levels in (0, 1).
    level : float
        Confidence level of the percentile interval.
    n_boot : int
        Bootstrap replicates; each draws the seeds with replacement (seeds are the
        independent units, requests within a seed are not).
    seed : int
        Seed of the bootstrap draws.
    interval : {"percentile", "normal"}
        Percentile interval of the replicates, or the estimate plus or minus the
        normal quantile times the replicates' standard deviation (for levels too
        close to 1 for the replicates' own tails, e.g. Bonferroni-corrected ones).

    Returns
    -------
    WindowStatistic
        ``estimate[w, k]`` is the inverted-CDF quantile ``q[k]`` of all responses of
        arrivals in window ``w``, over all seeds.
    """
    edges = np.asarray(windows_s, dtype=np.float64)
    levels = np.atleast_1d(np.asarray(q, dtype=np.float64))
    if np.any((levels <= 0) | (levels >= 1)):
        raise ValueError(f"q must lie in (0, 1), got {q!r}")
    split = _split_windows(arrival_s, response_s, edges)
    weights = _bootstrap_weights(len(arrival_s), n_boot, seed)
    shape = (edges.size - 1, levels.size)
    estimate, low, high = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    for w, per_seed in enumerate(split):
        for k, level_q in enumerate(levels):
            estimate[w, k], replicates = _weighted_quantiles(per_seed, float(level_q), weights)
            if np.any(np.isfinite(replicates)):
                low[w, k], high[w, k] = _interval(estimate[w, k], replicates, level, interval)
    count = np.array([sum(v.size for v in per_seed) for per_seed in split], dtype=np.int64)
    return WindowStatistic(edges, levels, estimate, low, high, count, level)


def window_means(
    arrival_s: Sequence[ArrayLike],
    values: Sequence[ArrayLike],
    windows_s: ArrayLike,
    *,
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
    interval: str = "percentile",
) -> WindowStatistic:
    """Mean of the values pooled over seeds, per arrival window, with seed-bootstrap CIs
    (``interval`` as in :func:`window_quantiles`)."""
    edges = np.asarray(windows_s, dtype=np.float64)
    split = _split_windows(arrival_s, values, edges)
    weights = _bootstrap_weights(len(arrival_s), n_boot, seed)
    sums = np.array([[v.sum() for v in per_seed] for per_seed in split])  # (w, seeds)
    sizes = np.array([[v.size for v in per_seed] for per_seed in split], dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        estimate = sums.sum(axis=1) / sizes.sum(axis=1)
        replicates = (weights @ sums.T) / (weights @ sizes.T)  # (boot, w)
    low, high = _interval(estimate, replicates, level, interval)
    return WindowStatistic(
        edges,
        np.empty(0),
        estimate,
        low,
        high,
        sizes.sum(axis=1).astype(np.int64),
        level,
    )
