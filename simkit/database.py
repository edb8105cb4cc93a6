"""Database tier: PostgreSQL stations, primary loss, failover, backups and the Redis cache.

Model, per replication ``r`` and control period ``p`` (arrays ``[R, P]``):

* **Queries.**  A request issues ``queries_per_request`` queries; a share
  ``read_fraction`` of them are reads.  At the request level a share
  ``1 - read_fraction`` of requests *write* (they need the primary) and the rest
  only read (assumption: the two shares coincide, which keeps the write rate
  ``(1 - read_fraction) x rate`` [write requests/s] used for lost writes).
* **Cache (cache-aside).**  Every read asks Redis first (``lookup_ms``); a hit
  (``hit_ratio``) is served from the cache, a miss also queries the database.
  A ``cache_restart`` chaos experiment empties the cache: the hit ratio drops to
  0 and recovers as ``hit_ratio x (1 - exp(-t / CACHE_WARMUP_S))``, sending the
  misses to the database.  For failures, a read-only request is served from the
  cache with probability ``hit_ratio`` (assumption: one cache entry per response).
* **Stations.**  Every database node is an M/M/c station with
  ``DB_SERVERS_PER_NODE`` servers of mean service time ``query_time_ms``; the
  mean response time is exact Erlang C (:func:`simkit.queueing.mean_response_time`),
  capped at the service time plus ``DB_WAIT_CAP_S`` when the station is unstable
  or nearly so.  Writes go to the primary.  Reads go to the replicas
  (``primary-replica``; the primary alone once no replica is left), to every node
  (``cluster``, spread evenly, the primary included) or to the one node
  (``single``).  While a node is down its load moves to the survivors.  Queries
  that cannot be served (writes during a failover, everything during a full
  outage) fail fast and add no time (connection refused).  The database state of
  a period is the one at its mid-point.
* **Primary loss.**  The primary node alternates exponential up times (mean
  ``primary_mtbf_h``) and down times (mean ``primary_mttr_s``), drawn in fixed rounds
  of standard exponentials as in :mod:`simkit.failures` (common random numbers:
  the same seed gives the same instants in every profile, scaled by its MTBF and
  MTTR).  With ``chaos.enabled``, ``db_primary_down`` experiments take the primary
  out for ``duration_s`` in every replication, and ``region_down`` takes out the
  nodes located in that region (``single`` and ``primary-replica`` nodes live in
  the first region; ``cluster`` node ``i`` in region ``i mod n_regions``, the
  primary being node 0).  Overlapping losses merge into one incident.
* **Failover.**  Monitoring notices when the alert rule that detects
  ``database`` fires on the loss's own failed share of requests
  (:func:`simkit.detection.window_detected_s`; a loss no rule sees before the
  node is back is never promoted away).  A replicated topology with a survivor
  (``primary-replica``) or a majority of the cluster left (``cluster``, leader
  election needs ``nodes // 2 + 1``) promotes a new primary ``failover_s``
  later: write requests fail from the loss until then, reads keep working.
  Otherwise (``single``, or no survivor) every request that touches the
  database fails until the node is back; for a single instance that *is* the
  restore from backup (mean ``primary_mttr_s``; a chaos experiment's
  ``duration_s``).
* **Data loss (RPO).**  Lost writes = write rate x the data-loss window:

  - ``cluster`` (synchronous quorum commit: ``synchronous_standby_names =
    'ANY k (...)'``, PostgreSQL docs "Synchronous Replication") -> 0;
  - ``primary-replica`` (asynchronous streaming replication: "there is a small
    delay between committing a transaction in the primary and the changes
    becoming visible in the standby", PostgreSQL docs "Streaming Replication")
    -> ``ASYNC_REPLICATION_LAG_S``;
  - a lost single instance is restored from its backups: ``scheduled`` -> the
    time since the last backup (backups at ``k x backup_interval_h`` from the
    simulation start, a backup at the start; assumption); ``continuous`` (WAL
    archiving to another region) -> ``WAL_ARCHIVE_TIMEOUT_S``; ``none`` ->
    everything written since the simulation start (or the previous restore);
  - a region outage leaves the disks intact: unavailability, no loss (assumption).

Failure windows from region outages fail only the traffic outside the dead
region, since :mod:`simkit.regions` already fails the region's own requests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simkit.detection import window_detected_s
from simkit.effects import Effects, FailureWindow, Incident, check_model_inputs
from simkit.errors import SimkitError
from simkit.queueing import mean_response_time
from simkit.scenario import Scenario

__all__ = [
    "ASYNC_REPLICATION_LAG_S",
    "CACHE_WARMUP_S",
    "DB_SERVERS_PER_NODE",
    "DB_WAIT_CAP_S",
    "INCIDENT_COLUMNS",
    "WAL_ARCHIVE_TIMEOUT_S",
    "backend_latency_at_s",
    "database_capacity_rps",
    "database_effects",
    "database_incidents",
    "database_latency",
    "primary_down",
]

#: Queries one PostgreSQL node serves at a time (assumption: one busy backend per
#: node, conservative; CPU cores and I/O are not modelled separately).
DB_SERVERS_PER_NODE = 1
#: Cap on the queueing wait of one query at a saturated node [s] (assumption: a
#: 5 s ``statement_timeout``, a common setting for web APIs).
DB_WAIT_CAP_S = 5.0
#: Asynchronous streaming-replication lag under normal load [s] (assumption; the
#: PostgreSQL docs describe the delay as small, typically well under a second).
ASYNC_REPLICATION_LAG_S = 1.0
#: Continuous WAL archiving closes a segment at least this often [s] (PostgreSQL
#: docs, ``archive_timeout``: "settings of a minute or so are usually reasonable").
WAL_ARCHIVE_TIMEOUT_S = 60.0
#: Time constant of the cache hit ratio after a restart [s] (assumption: a few
#: minutes of traffic repopulate the hot keys).
CACHE_WARMUP_S = 300.0
#: Exponential up/down pairs drawn per round (fixed, for common random numbers).
_ROUND = 64
#: Source flags of a primary loss, OR-ed when losses merge.
_RANDOM, _CHAOS, _REGION = 1, 2, 4

#: Columns of :func:`database_incidents`, with their units.
INCIDENT_COLUMNS = {
    "replication": "replication index",
    "source": "what caused it: random, chaos, region (joined with + when merged)",
    "start_s": "primary lost [s since the start]",
    "detected_s": "monitoring noticed [s]",
    "recovered_s": "writes work again: failover done or node restored [s]",
    "failover": "a new primary was promoted (else: wait for the node)",
    "rto_s": "recovered_s - start_s [s]",
    "rpo_s": "data-loss window before start_s [s]",
    "lost_writes": "write requests lost [count]",
}


# --------------------------------------------------------------------------- validation


def _check_args(
    scenario: Scenario, rate_rps: object, period_s: object, seeds: object | None
) -> tuple[np.ndarray, float]:
    rate, period = check_model_inputs(scenario, rate_rps, period_s)
    if seeds is not None:
        ok = isinstance(seeds, list | tuple) and all(
            isinstance(s, np.random.SeedSequence) for s in seeds
        )
        if not ok:
            raise SimkitError("seeds must be a list of numpy.random.SeedSequence")
        if len(seeds) != rate.shape[0]:
            raise SimkitError(
                f"seeds has {len(seeds)} entries but rate_rps has {rate.shape[0]} replications"
            )
    return rate, period


# --------------------------------------------------------------------------- timelines


def _child(seed: np.random.SeedSequence, index: int) -> np.random.SeedSequence:
    """Child ``index`` of ``seed`` as ``spawn`` would make it, without mutating ``seed``."""
    return np.random.SeedSequence(
        seed.entropy, spawn_key=(*seed.spawn_key, index), pool_size=seed.pool_size
    )


def _random_losses(
    seed: np.random.SeedSequence, horizon_s: float, mtbf_s: float, mttr_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Loss and return instants [s] of the primary within the horizon (starts up)."""
    gen = np.random.Generator(np.random.PCG64(_child(seed, 0)))
    ups, downs, end = [], [], 0.0
    while end < horizon_s:
        draws = gen.standard_exponential((_ROUND, 2))
        ups.append(draws[:, 0] * mtbf_s)
        downs.append(draws[:, 1] * mttr_s)
        end += float(ups[-1].sum() + downs[-1].sum())
    up, down = np.concatenate(ups), np.concatenate(downs)
    back = np.cumsum(up + down)
    lost = back - down
    keep = lost < horizon_s
    return lost[keep], back[keep]


def _node_regions(scenario: Scenario) -> list[str]:
    """Region of each database node; node 0 is the primary."""
    names = [r.name for r in scenario.regions]
    n = scenario.database.nodes
    if scenario.database.topology == "cluster":
        return [names[i % len(names)] for i in range(n)]
    return [names[0]] * n


@dataclass(frozen=True)
class _Region:
    """A region outage as the database sees it."""

    start_s: float
    end_s: float
    primary: bool  # the primary is in the dead region
    others: int  # non-primary nodes in the dead region
    share: float  # traffic share of the dead region


def _region_outages(scenario: Scenario) -> list[_Region]:
    if not scenario.chaos.enabled:
        return []
    where = _node_regions(scenario)
    shares = {r.name: r.traffic_share for r in scenario.regions}
    return [
        _Region(
            e.at_s,
            e.at_s + e.duration_s,
            where[0] == e.region,
            sum(w == e.region for w in where[1:]),
            shares[e.region],
        )
        for e in scenario.chaos.experiments
        if e.kind == "region_down"
    ]


@dataclass(frozen=True)
class _Episodes:
    """Merged primary losses of every replication, sorted by (replication, start)."""

    rep: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray  # the lost node is back
    source: np.ndarray  # OR of _RANDOM, _CHAOS, _REGION
    detected_s: np.ndarray
    recovered_s: np.ndarray
    failover: np.ndarray  # bool: a survivor can take over (reads keep working)
    promoted: np.ndarray  # bool: a new primary was promoted (the loss was detected in time)
    others_out: np.ndarray  # non-primary nodes out at the start
    region_share: np.ndarray  # traffic share of dead regions at the start
    failed_share: np.ndarray  # share of requests failing until recovered


def _episodes(
    scenario: Scenario, n_periods: int, period_s: float, seeds: list[np.random.SeedSequence]
) -> _Episodes:
    horizon_s = n_periods * period_s
    db = scenario.database
    regions = _region_outages(scenario)
    fixed: list[tuple[float, float, int]] = []
    if scenario.chaos.enabled:
        fixed += [
            (e.at_s, e.at_s + e.duration_s, _CHAOS)
            for e in scenario.chaos.experiments
            if e.kind == "db_primary_down" and e.at_s < horizon_s
        ]
    fixed += [(g.start_s, g.end_s, _REGION) for g in regions if g.primary and g.start_s < horizon_s]
    reps, starts, ends, sources = [], [], [], []
    for r, seed in enumerate(seeds):
        lost, back = _random_losses(seed, horizon_s, db.primary_mtbf_h * 3600.0, db.primary_mttr_s)
        reps.append(np.full(lost.size + len(fixed), r))
        starts.append(np.concatenate([lost, [f[0] for f in fixed]]))
        ends.append(np.concatenate([back, [f[1] for f in fixed]]))
        sources.append(np.concatenate([np.full(lost.size, _RANDOM), [f[2] for f in fixed]]))
    rep = np.concatenate(reps).astype(np.int64) if reps else np.zeros(0, np.int64)
    start = np.concatenate(starts) if starts else np.zeros(0)
    end = np.concatenate(ends) if ends else np.zeros(0)
    source = np.concatenate(sources).astype(np.int64) if sources else np.zeros(0, np.int64)
    order = np.lexsort((start, rep))
    rep, start, end, source = rep[order], start[order], end[order], source[order]
    # Merge overlapping losses within a replication (vectorized interval union).
    if rep.size:
        offset = rep * 2.0 * (float(end.max()) + 1.0)  # keeps replications apart
        run_end = np.maximum.accumulate(end + offset)
        new = np.ones(rep.size, dtype=bool)
        new[1:] = (start + offset)[1:] > run_end[:-1]
        first = np.flatnonzero(new)
        end = np.maximum.reduceat(end, first)
        rep, start = rep[first], start[first]
        source = np.bitwise_or.reduceat(source, first)
    others = np.zeros(rep.size, dtype=np.int64)
    share = np.zeros(rep.size)
    for g in regions:
        active = (start >= g.start_s) & (start < g.end_s)
        others += active * g.others
        share += active * g.share
    share = np.minimum(share, 1.0)
    survivors = db.nodes - 1 - others
    if db.topology == "cluster":
        failover = survivors >= db.nodes // 2 + 1
    elif db.topology == "primary-replica":
        failover = survivors >= 1
    else:
        failover = np.zeros(rep.size, dtype=bool)
    # Detection on each loss's own failed share (writes, or everything touching the
    # database) until the node is back; a promotion waits for it.
    failed = _failed_share(scenario, start, failover, share)
    # A region outage that took the primary fails its own traffic too (simkit.regions):
    # the alert sees both.
    seen = np.where((source & _REGION) != 0, share + failed, failed)
    detected = np.array(
        [
            window_detected_s(scenario, "database", a, b, f, period_s, n_periods)
            for a, b, f in zip(start, end, seen, strict=True)
        ]
    )
    promoted = failover & np.isfinite(detected)
    recovered = np.where(promoted, np.minimum(end, detected + db.failover_s), end)
    return _Episodes(
        rep, start, end, source, detected, recovered, failover, promoted, others, share, failed
    )


def _failed_share(
    scenario: Scenario, start_s: np.ndarray, failover: np.ndarray, region_share: np.ndarray
) -> np.ndarray:
    """Share of requests failing while the primary is lost, per episode [-].

    Writes need the primary; without a failover target, reads that miss the
    cache fail too.  Traffic of a dead region is failed by :mod:`simkit.regions`.
    """
    db = scenario.database
    if db.queries_per_request == 0:
        return np.zeros(start_s.shape)
    write_share = 1.0 - db.read_fraction
    touch = write_share + db.read_fraction * (1.0 - _hit_ratio(scenario, start_s))
    return np.where(failover, write_share, touch) * (1.0 - region_share)


# --------------------------------------------------------------------------- cache


def _warm_factor(scenario: Scenario, times_s: np.ndarray) -> np.ndarray:
    """Share of the nominal hit ratio reached at ``times_s`` after cache restarts [-]."""
    warm = np.ones_like(times_s, dtype=np.float64)
    if not scenario.chaos.enabled:
        return warm
    for e in scenario.chaos.experiments:
        if e.kind == "cache_restart":
            after = np.maximum(times_s - e.at_s, 0.0)
            factor = np.where(times_s >= e.at_s, -np.expm1(-after / CACHE_WARMUP_S), 1.0)
            warm = np.minimum(warm, factor)
    return warm


def _hit_ratio(scenario: Scenario, times_s: np.ndarray) -> np.ndarray:
    if not scenario.cache.enabled:
        return np.zeros_like(times_s, dtype=np.float64)
    return scenario.cache.hit_ratio * _warm_factor(scenario, times_s)


# --------------------------------------------------------------------------- data loss


def _cumulative_requests(
    rate: np.ndarray, period_s: float, rep: np.ndarray, t_s: np.ndarray
) -> np.ndarray:
    """Requests offered in ``[0, t_s)`` of replication ``rep`` [count] (rate is per period).

    Only the replications in ``rep`` are summed up.
    """
    n_per = rate.shape[1]
    rows, row = np.unique(rep, return_inverse=True)
    part = rate[rows]
    cum = np.concatenate([np.zeros((rows.size, 1)), np.cumsum(part * period_s, axis=1)], 1)
    t = np.clip(t_s, 0.0, n_per * period_s)
    k = np.minimum(np.floor(t / period_s).astype(np.int64), n_per - 1)
    return cum[row, k] + part[row, k] * (t - k * period_s)


def _loss_windows(scenario: Scenario, ep: _Episodes) -> np.ndarray:
    """Data-loss window (RPO) of every episode [s]."""
    db = scenario.database
    n = ep.rep.size
    if db.topology == "cluster":
        return np.zeros(n)
    # The primary's storage is lost unless a region outage alone made it unreachable.
    storage_lost = (ep.source & (_RANDOM | _CHAOS)) != 0
    if db.topology == "primary-replica":
        # Promoting an asynchronous standby loses the writes it had not received.
        lag = np.minimum(ASYNC_REPLICATION_LAG_S, ep.start_s)
        return np.where(ep.failover | storage_lost, lag, 0.0)
    # Single instance: restore from the backups.
    idx = np.where(storage_lost, np.arange(n), -1)
    prev = np.full(n, -1)
    if n > 1:
        prev[1:] = np.maximum.accumulate(idx)[:-1]
    same = (prev >= 0) & (ep.rep[np.maximum(prev, 0)] == ep.rep)
    since = np.where(same, ep.recovered_s[np.maximum(prev, 0)], 0.0)
    since = np.minimum(since, ep.start_s)
    if db.backups == "none":
        window = ep.start_s - since
    elif db.backups == "scheduled":
        interval_s = db.backup_interval_h * 3600.0
        last_backup = np.floor(ep.start_s / interval_s) * interval_s
        window = ep.start_s - np.maximum(last_backup, since)
    else:
        window = np.minimum(WAL_ARCHIVE_TIMEOUT_S, ep.start_s - since)
    return np.where(storage_lost, window, 0.0)


def _lost_writes(
    scenario: Scenario, rate: np.ndarray, period_s: float, ep: _Episodes, window_s: np.ndarray
) -> np.ndarray:
    db = scenario.database
    if db.queries_per_request == 0:
        return np.zeros(ep.rep.size)
    n = ep.rep.size
    both = _cumulative_requests(
        rate, period_s, np.tile(ep.rep, 2), np.concatenate([ep.start_s - window_s, ep.start_s])
    )
    return (1.0 - db.read_fraction) * (both[n:] - both[:n])


# --------------------------------------------------------------------------- public API


def database_incidents(
    scenario: Scenario,
    rate_rps: np.ndarray,
    period_s: float,
    seeds: list[np.random.SeedSequence],
) -> pd.DataFrame:
    """One row per primary loss with its detection, RTO and RPO.

    Parameters
    ----------
    scenario : Scenario
        The system; uses ``database``, ``monitoring``, ``regions`` and ``chaos``.
    rate_rps : numpy.ndarray
        Offered request rate per control period [1/s], ``[R, P]``.
    period_s : float
        Control period [s].
    seeds : list of numpy.random.SeedSequence
        The ``"database"`` stream of each replication (length ``R``).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`INCIDENT_COLUMNS`, sorted by replication and start.
    """
    rate, period_s = _check_args(scenario, rate_rps, period_s, seeds)
    ep = _episodes(scenario, rate.shape[1], period_s, list(seeds))
    rpo = _loss_windows(scenario, ep)
    names = {_RANDOM: "random", _CHAOS: "chaos", _REGION: "region"}
    source = [
        "+".join(name for flag, name in names.items() if s & flag) for s in ep.source.tolist()
    ]
    return pd.DataFrame(
        {
            "replication": ep.rep,
            "source": pd.Series(source, dtype=object),
            "start_s": ep.start_s,
            "detected_s": ep.detected_s,
            "recovered_s": ep.recovered_s,
            "failover": ep.promoted,
            "rto_s": ep.recovered_s - ep.start_s,
            "rpo_s": rpo,
            "lost_writes": _lost_writes(scenario, rate, period_s, ep, rpo),
        },
        columns=list(INCIDENT_COLUMNS),
    )


def primary_down(
    scenario: Scenario, n_periods: int, period_s: float, seeds: list[np.random.SeedSequence]
) -> np.ndarray:
    """Share of each control period the database primary node is lost [-], ``[R, P]``.

    The node counts as down from its loss until it is back (repaired, restored or
    its region up again), whether or not a replica took over meanwhile; its
    long-run mean is ``MTTR / (MTBF + MTTR)`` without chaos experiments.

    Parameters
    ----------
    scenario : Scenario
        The system.
    n_periods : int
        Control periods simulated.
    period_s : float
        Control period [s].
    seeds : list of numpy.random.SeedSequence
        The ``"database"`` stream of each replication.

    Returns
    -------
    numpy.ndarray
        Values in [0, 1]; 1 for a period wholly down.
    """
    if isinstance(n_periods, bool) or not isinstance(n_periods, int | np.integer) or n_periods < 1:
        raise SimkitError(f"n_periods = {n_periods!r} must be a whole number >= 1")
    n_rep = len(seeds) if isinstance(seeds, list | tuple) else 0
    _check_args(scenario, np.zeros((n_rep, int(n_periods))), period_s, seeds)
    n_periods, period_s = int(n_periods), float(period_s)
    ep = _episodes(scenario, n_periods, period_s, list(seeds))
    edges = np.arange(n_periods + 1) * period_s
    out = np.zeros((n_rep, n_periods))
    # Merged episodes do not overlap: down time in [0, t) is a sum of clipped ramps.
    for r in range(n_rep):
        sel = ep.rep == r
        s, e = ep.start_s[sel], ep.end_s[sel]
        if s.size == 0:
            continue
        j = np.searchsorted(s, edges, side="right")  # episodes started by each edge
        full = np.concatenate([[0.0], np.cumsum(e - s)])
        prev = np.maximum(j - 1, 0)
        partial = np.where(j > 0, np.clip(edges - s[prev], 0.0, (e - s)[prev]), 0.0)
        down_by = full[prev] * (j > 0) + partial
        out[r] = np.diff(down_by) / period_s
    return np.clip(out, 0.0, 1.0)


def _interval_mask(
    n_rep: int, n_periods: int, period_s: float, rep: np.ndarray, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """Count of intervals ``[a, b)`` of replication ``rep`` covering each period mid-point."""
    first = np.clip(np.ceil(a / period_s - 0.5), 0, n_periods).astype(np.int64)
    last = np.clip(np.ceil(b / period_s - 0.5), 0, n_periods).astype(np.int64)
    diff = np.zeros((n_rep, n_periods + 1), dtype=np.int64)
    np.add.at(diff, (rep, first), 1)
    np.add.at(diff, (rep, last), -1)
    return np.cumsum(diff, axis=1)[:, :n_periods]


def _station(arrival_qps: np.ndarray, service_s: float) -> np.ndarray:
    """Mean response time of one node [s], capped at ``service_s + DB_WAIT_CAP_S``."""
    cap_s = service_s + DB_WAIT_CAP_S
    if DB_SERVERS_PER_NODE == 1:  # M/M/1: 1 / (mu - lambda), the same as the general formula
        mu = 1.0 / service_s
        slack = mu - np.asarray(arrival_qps, dtype=np.float64)
        t = np.full(slack.shape, cap_s)
        np.divide(1.0, slack, out=t, where=slack > 1.0 / cap_s)
        return np.minimum(t, cap_s)
    t = mean_response_time(DB_SERVERS_PER_NODE, arrival_qps, 1.0 / service_s)
    return np.minimum(np.asarray(t, dtype=np.float64), cap_s)


def database_latency(
    scenario: Scenario,
    rate_rps: np.ndarray,
    period_s: float,
    *,
    nodes_up: np.ndarray | None = None,
    primary_serving: np.ndarray | None = None,
) -> np.ndarray:
    """Mean database + cache time per request [s], ``[R, P]``.

    ``queries_per_request x (read_fraction x (lookup + miss x T_read) +
    (1 - read_fraction) x T_write)`` with ``T`` the M/M/c mean response times
    of the stations (see the module docstring); ``lookup`` only with a cache.

    Parameters
    ----------
    scenario : Scenario
        The system.
    rate_rps : numpy.ndarray
        Offered request rate [1/s], ``[R, P]``.
    period_s : float
        Control period [s] (for the cache warm-up after a restart).
    nodes_up : numpy.ndarray, optional
        Database nodes serving in each period [count], ``[R, P]``; default all.
    primary_serving : numpy.ndarray, optional
        Whether a primary accepts writes in each period (bool ``[R, P]``); default yes.

    Returns
    -------
    numpy.ndarray
        Latency added to every request [s], finite.
    """
    rate, period_s = _check_args(scenario, rate_rps, period_s, None)
    db, cache = scenario.database, scenario.cache
    n_rep, n_per = rate.shape
    # Scalars when every node is up: the same values, without whole-array selections.
    up = np.int64(db.nodes) if nodes_up is None else np.asarray(nodes_up)
    prim = np.True_ if primary_serving is None else np.asarray(primary_serving, dtype=bool)
    prim = prim & (up > 0)
    mid_s = (np.arange(n_per) + 0.5) * period_s
    hit = _hit_ratio(scenario, mid_s)[None, :]
    lookup_s = cache.lookup_ms * 1e-3 if cache.enabled else 0.0
    service_s = db.query_time_ms * 1e-3
    q, rf = db.queries_per_request, db.read_fraction
    if service_s == 0 or q == 0:
        return np.broadcast_to(q * rf * lookup_s, (n_rep, n_per)).astype(np.float64)
    read_qps = rate * q * rf * (1.0 - hit)
    write_qps = rate * q * (1.0 - rf)
    # Nodes serving reads; does the primary serve reads too?
    if db.topology == "primary-replica":
        replicas = up - prim
        readers = np.where(replicas >= 1, replicas, up)
        primary_reads = prim & (replicas < 1)
    else:
        readers = up
        primary_reads = prim
    readers_safe = np.maximum(readers, 1)
    per_reader = read_qps / readers_safe
    t_primary = _station(np.where(prim, write_qps + primary_reads * per_reader, 0.0), service_s)
    t_other = _station(per_reader, service_s)
    t_read = np.where(
        primary_reads, (t_primary + (readers_safe - 1) * t_other) / readers_safe, t_other
    )
    t_read = np.where(up > 0, t_read, 0.0)
    t_write = np.where(prim, t_primary, 0.0)
    return q * (rf * (lookup_s + (1.0 - hit) * t_read) + (1.0 - rf) * t_write)


def database_capacity_rps(scenario: Scenario) -> float:
    """Largest request rate the database tier sustains with every node up [1/s].

    The rate at which the busiest node reaches utilization 1: ``min`` over the
    nodes of ``DB_SERVERS_PER_NODE / query_time`` [queries/s] divided by the
    queries per request that node serves, routed as :func:`database_latency`
    routes them with every node up, a primary serving and the cache at its
    nominal hit ratio.  For ``primary-replica`` with ``k`` replicas the nodes
    serve ``queries_per_request x (1 - read_fraction)`` writes (the primary) and
    ``queries_per_request x read_fraction x (1 - hit_ratio) / k`` reads (each
    replica); for ``cluster`` and ``single`` every node serves an equal share of
    the reads and the primary the writes too.  At and above this rate that node's
    queue is unstable: :func:`database_latency` holds its wait at
    :data:`DB_WAIT_CAP_S` (the ``statement_timeout`` stand-in), i.e. the
    database, not the app tier, bounds the service.

    Parameters
    ----------
    scenario : Scenario
        The system; uses ``database`` and ``cache``.

    Returns
    -------
    float
        Capacity [requests/s]; ``inf`` when no query reaches the database.
    """
    if not isinstance(scenario, Scenario):
        raise SimkitError(f"scenario must be a simkit.Scenario, got {type(scenario).__name__}")
    db, cache = scenario.database, scenario.cache
    hit = cache.hit_ratio if cache.enabled else 0.0
    reads = db.queries_per_request * db.read_fraction * (1.0 - hit)  # per request
    writes = db.queries_per_request * (1.0 - db.read_fraction)
    if db.topology == "primary-replica" and db.nodes >= 2:
        busiest = max(writes, reads / (db.nodes - 1))
    else:  # every node reads; the primary also writes
        busiest = writes + reads / db.nodes
    service_s = db.query_time_ms * 1e-3
    if service_s <= 0.0 or busiest <= 0.0:
        return float(np.inf)
    return DB_SERVERS_PER_NODE / service_s / busiest


def backend_latency_at_s(scenario: Scenario, rate_rps: float) -> float:
    """Mean cache + database time per request at a constant offered rate [s], every node up.

    :func:`database_latency` of one period at ``rate_rps`` with every node up,
    a primary serving and the cache at its nominal hit ratio (chaos cache
    restarts left out): the latency the engine adds to every request while the
    database is healthy, and the one the analytic capacity check
    (:func:`simkit.analysis.analytic_instances`) adds to the M/M/c p99.  It grows
    with the rate (Erlang C queueing at the nodes) and reaches
    ``query_time + DB_WAIT_CAP_S`` per query on a saturated node, from
    :func:`database_capacity_rps` on.

    Parameters
    ----------
    scenario : Scenario
        The system; uses ``database`` and ``cache``.
    rate_rps : float
        Constant offered request rate [1/s], >= 0.

    Returns
    -------
    float
        Latency added to every request [s], finite.

    Raises
    ------
    SimkitError
        Not a Scenario, or a rate that is not a finite number >= 0.
    """
    if isinstance(rate_rps, bool) or not isinstance(rate_rps, int | float | np.number):
        raise SimkitError(f"rate_rps = {rate_rps!r} must be a finite number >= 0 [1/s]")
    if not isinstance(scenario, Scenario):
        raise SimkitError(f"scenario must be a simkit.Scenario, got {type(scenario).__name__}")
    steady = scenario
    if scenario.chaos.enabled and any(
        e.kind == "cache_restart" for e in scenario.chaos.experiments
    ):
        steady = scenario.replace(chaos__enabled=False)
    rate = np.full((1, 1), float(rate_rps))
    return float(database_latency(steady, rate, scenario.autoscaling.sync_period_s)[0, 0])


def _latency_with_outages(
    scenario: Scenario, rate: np.ndarray, period_s: float, ep: _Episodes
) -> np.ndarray:
    """:func:`database_latency` with the nodes and primary each period's episodes leave
    (state at the period mid-points)."""
    db = scenario.database
    n_rep, n_per = rate.shape
    mid_s = (np.arange(n_per) + 0.5) * period_s
    others_out = np.zeros(n_per, dtype=np.int64)
    for g in _region_outages(scenario):
        others_out += g.others * ((mid_s >= g.start_s) & (mid_s < g.end_s))
    if ep.rep.size == 0 and not others_out.any():
        return database_latency(scenario, rate, period_s)

    def cover(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _interval_mask(n_rep, n_per, period_s, ep.rep, a, b)

    primary_out = cover(ep.start_s, ep.end_s) > 0
    no_writes = cover(ep.start_s, ep.recovered_s) > 0
    full = ep.rep[~ep.failover]
    all_out = _interval_mask(
        n_rep, n_per, period_s, full, ep.start_s[~ep.failover], ep.end_s[~ep.failover]
    )
    up = db.nodes - primary_out.astype(np.int64) - others_out[None, :]
    # After a failover the new primary is one of the survivors: writes work again.
    up = np.where(all_out > 0, 0, np.maximum(up, 0))
    return database_latency(
        scenario, rate, period_s, nodes_up=up, primary_serving=~no_writes & (up > 0)
    )


def database_effects(
    scenario: Scenario,
    rate_rps: np.ndarray,
    period_s: float,
    seeds: list[np.random.SeedSequence],
) -> Effects:
    """Latency, failure windows and incidents of the database tier and cache.

    Parameters
    ----------
    scenario : Scenario
        The system; uses ``database``, ``cache``, ``monitoring``, ``regions`` and
        ``chaos`` (``db_primary_down``, ``cache_restart``, ``region_down``).
    rate_rps : numpy.ndarray
        Offered request rate per control period [1/s], ``[R, P]``.
    period_s : float
        Control period [s].
    seeds : list of numpy.random.SeedSequence
        The ``"database"`` stream of each replication (length ``R``).

    Returns
    -------
    Effects
        ``latency_s`` [s] ``[R, P]`` (:func:`database_latency`; while every node
        is up and the cache warm it equals :func:`backend_latency_at_s` at the
        period's rate),
        ``windows`` (cause ``"database"``: writes failing until failover, or every
        request touching the database during a full outage) and one
        ``Incident`` (kind ``"database"``) per primary loss with RTO and RPO.

    Raises
    ------
    SimkitError
        Bad shapes, negative rates, a bad period or seeds.
    """
    rate, period_s = _check_args(scenario, rate_rps, period_s, seeds)
    n_per = rate.shape[1]
    horizon_s = n_per * period_s
    ep = _episodes(scenario, n_per, period_s, list(seeds))
    rpo = _loss_windows(scenario, ep)
    lost = _lost_writes(scenario, rate, period_s, ep, rpo)

    latency = _latency_with_outages(scenario, rate, period_s, ep)

    # Step-resolution failure windows and incidents.
    share = ep.failed_share
    end_w = np.minimum(ep.recovered_s, horizon_s)
    windows = tuple(
        FailureWindow(int(r), float(a), float(b), float(f), "database")
        for r, a, b, f in zip(ep.rep, ep.start_s, end_w, share, strict=True)
        if f > 0 and b > a
    )
    incidents = tuple(
        Incident(int(r), "database", float(a), float(d), float(c), float(w), float(n))
        for r, a, d, c, w, n in zip(
            ep.rep, ep.start_s, ep.detected_s, ep.recovered_s, rpo, lost, strict=True
        )
    )
    return Effects(latency_s=latency, windows=windows, incidents=incidents)
