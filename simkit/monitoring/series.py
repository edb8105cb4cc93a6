"""Monitoring series derived from a simulation: CPU, memory, disk, network, errors, p99.

The series are what a Prometheus + node-exporter set-up would scrape from the
simulated service, at the control-period resolution of the result
(``result.period_s``, 15 s).  They are pure post-processing of a
:class:`~simkit.result.SimResult`: nothing here changes the simulation.

Model, per period ``p`` of replication ``r`` (every constant below carries its
unit and a one-line reason; "assumption" marks a value chosen by us):

``cpu_percent``
    Mean CPU of a Ready pod as a percentage of its CPU request, the number the
    HPA and ``kube_pod_container_resource_requests`` dashboards show::

        (cpu_idle_milli + u * workers * cpu_busy_milli + logging_milli) / cpu_request_milli

    with ``u`` the busy fraction (``result.utilization``).  Debug and verbose
    logging overheads are part of the service time (``service.debug_overhead``,
    ``service.logging_overhead``), so they already raise ``u``.  When
    ``monitoring.verbose_logging`` is on but the scenario charges no
    ``service.logging_overhead``, the synchronous log writes are added here as
    :data:`VERBOSE_LOGGING_CPU_FRACTION` of the plain request CPU (never twice).
    ``NaN`` when no instance is Ready (Prometheus would have no sample).
``memory_mib``
    Resident memory of one Ready instance: :data:`NODE_BASE_RSS_MIB`, plus
    :data:`DEBUG_EXTRA_MIB` in debug mode or with hot reload, plus
    :data:`MEMORY_PER_INFLIGHT_KIB` per request in flight (Little's law: served
    rate per instance x median latency).  No leak is modelled.  ``NaN`` when no
    instance is Ready.
``disk_used_gib``
    Data the service has written by the end of the period (one volume for the
    whole service): :data:`INITIAL_DATABASE_GIB` of database, plus
    :data:`DATABASE_BYTES_PER_WRITE` per successful write query
    (``queries_per_request * (1 - read_fraction)`` per served request), plus the
    log volume :data:`LOG_BYTES_PER_REQUEST` per offered request at the log
    level (``"debug"`` with ``monitoring.verbose_logging``).  Logs are kept for
    the run (no rotation; Docker's default ``json-file`` driver does not rotate).
``disk_used_percent``
    ``disk_used_gib`` over the volume size :data:`DISK_SIZE_GIB` x 100.  Above
    100 means the disk would have filled; the engine does not model the writes
    failing.
``network_mbps``
    Traffic of the whole service [Mbit/s, 1e6 bit/s]: client requests and
    responses; WAL streamed to each standby (``database.nodes - 1``) when the
    topology is not ``single``; for ``backups = "continuous"`` the WAL archived
    to object storage; for ``"scheduled"`` and ``"continuous"`` a full base
    backup of the database every ``backup_interval_h`` (the first at the start
    of the run) sent at :data:`BACKUP_RATE_MBPS` until done.
``error_ratio``
    Failed / offered requests in the period [-] (0 when nothing arrived).
``latency_p99_s``
    p99 latency of the requests of the period [s] (the quantile of their pooled
    distribution, :func:`simkit.windows.window_latency_quantiles`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simkit.errors import SimkitError
from simkit.result import SimResult
from simkit.windows import window_latency_quantiles

__all__ = [
    "BACKUP_RATE_MBPS",
    "DATABASE_BYTES_PER_WRITE",
    "DEBUG_EXTRA_MIB",
    "DISK_SIZE_GIB",
    "INITIAL_DATABASE_GIB",
    "LOG_BYTES_PER_REQUEST",
    "MEMORY_PER_INFLIGHT_KIB",
    "NODE_BASE_RSS_MIB",
    "REQUEST_BYTES",
    "RESPONSE_BYTES",
    "SERIES_UNITS",
    "VERBOSE_LOGGING_CPU_FRACTION",
    "WAL_BYTES_PER_WRITE",
    "MonitoringSeries",
    "monitoring_series",
]

# --------------------------------------------------------------------------- constants
#: Resident memory of an idle Node.js + Express + pg-pool process [MiB]
#: (assumption: such processes idle at 60-100 MiB RSS).
NODE_BASE_RSS_MIB = 80.0
#: Extra memory in debug mode / hot reload: inspector, source maps, file watchers [MiB]
#: (assumption).
DEBUG_EXTRA_MIB = 40.0
#: Heap held per request in flight: request/response objects, parsed JSON body,
#: closures and socket buffers [KiB] (assumption).
MEMORY_PER_INFLIGHT_KIB = 64.0
#: Extra CPU of verbose logging as a fraction of the plain request CPU, used only
#: when the scenario charges no ``service.logging_overhead`` [-] (the development
#: profile's value: stdout writes are synchronous on Linux, Node.js "process I/O" docs).
VERBOSE_LOGGING_CPU_FRACTION = 0.3
#: Database size at the start of the run [GiB] (assumption).
INITIAL_DATABASE_GIB = 10.0
#: Growth of tables and indexes per write query (row, index entries, dead tuples
#: before vacuum) [bytes] (assumption).
DATABASE_BYTES_PER_WRITE = 512.0
#: Log bytes written per request by log level [bytes]: one JSON access-log line at
#: ``info`` (assumption, ~300 B per line); about ten debug lines with SQL and bodies
#: at ``debug`` (assumption).
LOG_BYTES_PER_REQUEST = {"info": 300.0, "debug": 3000.0}
#: Size of the volume that ``disk_used_percent`` refers to [GiB] (assumption: a
#: 100 GiB EBS gp3 volume).
DISK_SIZE_GIB = 100.0
#: HTTP request with headers and a small JSON body [bytes] (assumption).
REQUEST_BYTES = 1024.0
#: JSON response with headers [bytes] (assumption).
RESPONSE_BYTES = 4096.0
#: PostgreSQL WAL per write query, including full-page images after checkpoints
#: [bytes] (assumption).
WAL_BYTES_PER_WRITE = 1024.0
#: Throughput of a base backup to object storage [Mbit/s] (the t3.medium baseline
#: network bandwidth, 0.256 Gbit/s, AWS EC2 network specifications).
BACKUP_RATE_MBPS = 256.0

_GIB = 2.0**30
_KIB_PER_MIB = 1024.0

#: Series names and their units.
SERIES_UNITS = {
    "cpu_percent": "mean CPU of a Ready pod, percent of its CPU request [%]",
    "memory_mib": "resident memory of one Ready instance [MiB]",
    "disk_used_gib": "database plus logs written by the end of the period [GiB]",
    "disk_used_percent": "disk_used_gib / disk size x 100 [%]",
    "network_mbps": "client, replication and backup traffic of the service [Mbit/s]",
    "error_ratio": "failed / offered requests in the period [-]",
    "latency_p99_s": "p99 latency of the period [s]",
}


@dataclass(frozen=True, eq=False)
class MonitoringSeries:
    """Monitoring series ``[R, P]`` at the control-period resolution.

    Sample ``p`` describes the period ``[p * period_s, (p + 1) * period_s)``
    after ``start``; see the module docstring for the model and
    :data:`SERIES_UNITS` for the units.

    Attributes
    ----------
    start : pandas.Timestamp
        Start of the simulation (UTC).
    period_s : float
        Time between samples [s].
    cpu_percent, memory_mib, disk_used_gib, disk_used_percent, network_mbps, \
error_ratio, latency_p99_s : numpy.ndarray
        The series, float64, ``[R, P]``.
    requests : numpy.ndarray, optional
        Offered requests per sample [count], the weights of ``error_ratio`` over
        a window (errors over requests, not a mean of ratios).
    """

    start: pd.Timestamp
    period_s: float
    cpu_percent: np.ndarray = field(repr=False)
    memory_mib: np.ndarray = field(repr=False)
    disk_used_gib: np.ndarray = field(repr=False)
    disk_used_percent: np.ndarray = field(repr=False)
    network_mbps: np.ndarray = field(repr=False)
    error_ratio: np.ndarray = field(repr=False)
    latency_p99_s: np.ndarray = field(repr=False)
    requests: np.ndarray | None = field(default=None, repr=False)

    def weights(self, name: str) -> np.ndarray | None:
        """Sample weights for windowed rules on ``name``: requests for a ratio, else none."""
        return self.requests if name == "error_ratio" else None

    @property
    def replications(self) -> int:
        """Number of replications ``R``."""
        return int(self.cpu_percent.shape[0])

    @property
    def n_samples(self) -> int:
        """Number of samples ``P`` per replication."""
        return int(self.cpu_percent.shape[1])

    def get(self, name: str) -> np.ndarray:
        """One series by name, ``[R, P]``."""
        if name not in SERIES_UNITS:
            raise SimkitError(f"series = {name!r} is unknown; allowed: {', '.join(SERIES_UNITS)}")
        return getattr(self, name)

    def as_dict(self) -> dict[str, np.ndarray]:
        """All series by name."""
        return {name: getattr(self, name) for name in SERIES_UNITS}

    @property
    def time_index(self) -> pd.DatetimeIndex:
        """Start of every sample (UTC)."""
        return pd.date_range(
            self.start,
            periods=self.n_samples,
            freq=pd.Timedelta(seconds=self.period_s),
            name="time",
        )

    def to_frame(self) -> pd.DataFrame:
        """Tidy frame: index ``(replication, time)``, one column per series."""
        index = pd.MultiIndex.from_product(
            [range(self.replications), self.time_index], names=["replication", "time"]
        )
        return pd.DataFrame({k: v.ravel() for k, v in self.as_dict().items()}, index=index)


# --------------------------------------------------------------------------- model
def _per_period(result: SimResult) -> tuple[np.ndarray, np.ndarray]:
    """Offered and failed requests per period [count], float64 ``[R, P]`` each."""
    return result.arrivals_period.astype(np.float64), np.asarray(
        result.errors_period, dtype=np.float64
    )


def _period_latency(result: SimResult, quantile: int) -> np.ndarray:
    """Latency quantile of the requests of each period [s] (pooled over its steps)."""
    edges = np.arange(0, result.n_steps, result.steps_per_period)
    return window_latency_quantiles(result, edges)[:, :, quantile]


def _cpu_percent(result: SimResult, ready: np.ndarray) -> np.ndarray:
    s = result.scenario
    a, svc = s.autoscaling, s.service
    busy_milli = result.utilization.astype(np.float64) * (
        svc.workers_per_instance * a.cpu_busy_milli
    )
    logging_milli = np.zeros_like(busy_milli)
    if s.monitoring.verbose_logging and svc.logging_overhead == 0.0:
        plain_share = svc.service_time_ms * 1e-3 / svc.effective_service_time_s
        logging_milli = busy_milli * (plain_share * VERBOSE_LOGGING_CPU_FRACTION)
    cpu = (a.cpu_idle_milli + busy_milli + logging_milli) / a.cpu_request_milli * 100.0
    return np.where(ready > 0, cpu, np.nan)


def _memory_mib(result: SimResult, ready: np.ndarray, served: np.ndarray) -> np.ndarray:
    svc = result.scenario.service
    base = NODE_BASE_RSS_MIB + (DEBUG_EXTRA_MIB if svc.debug_overhead > 0 or svc.hot_reload else 0)
    rate_per_instance = np.divide(
        served / result.period_s, ready, out=np.zeros_like(served), where=ready > 0
    )
    in_flight = rate_per_instance * _period_latency(result, 0)
    memory = base + in_flight * (MEMORY_PER_INFLIGHT_KIB / _KIB_PER_MIB)
    return np.where(ready > 0, memory, np.nan)


def _backup_bits(result: SimResult, database_gib: np.ndarray) -> np.ndarray:
    """Base-backup bits sent in each period, ``[R, P]``.

    Backup ``j`` starts at ``j * interval`` and sends the database size at that
    moment at :data:`BACKUP_RATE_MBPS` (cut at the next backup if longer).  The
    bits sent by time ``t`` are ``rate * (sum of finished durations + elapsed
    part of the current one)``; differences at the period edges give the bits
    per period.
    """
    n_rep, n_per = database_gib.shape
    interval_s = result.scenario.database.backup_interval_h * 3600.0
    duration_s = n_per * result.period_s
    starts_s = np.arange(0.0, duration_s, interval_s)  # [J]
    start_period = np.minimum((starts_s // result.period_s).astype(np.int64), n_per - 1)
    size_bits = database_gib[:, start_period] * (_GIB * 8.0)  # [R, J]
    rate_bps = BACKUP_RATE_MBPS * 1e6
    length_s = np.minimum(size_bits / rate_bps, interval_s)  # [R, J]
    done_s = np.concatenate([np.zeros((n_rep, 1)), np.cumsum(length_s, axis=1)], axis=1)
    edges_s = np.arange(n_per + 1) * result.period_s
    j = np.minimum((edges_s // interval_s).astype(np.int64), starts_s.size - 1)  # [P + 1]
    elapsed = np.minimum(edges_s - starts_s[j], length_s[:, j])
    sent_bits = rate_bps * (done_s[:, j] + elapsed)
    return np.diff(sent_bits, axis=1)


def monitoring_series(
    result: SimResult,
    *,
    initial_database_gib: float = INITIAL_DATABASE_GIB,
    disk_size_gib: float = DISK_SIZE_GIB,
) -> MonitoringSeries:
    """Derive the monitoring series of a simulation result.

    Parameters
    ----------
    result : SimResult
        A simulation result.
    initial_database_gib : float
        Database size at the start of the run [GiB].
    disk_size_gib : float
        Size of the volume behind ``disk_used_percent`` [GiB].

    Returns
    -------
    MonitoringSeries
        Arrays ``[R, P]`` at ``result.period_s`` (see the module docstring).
    """
    for name, value in (
        ("initial_database_gib", initial_database_gib),
        ("disk_size_gib", disk_size_gib),
    ):
        if not isinstance(value, int | float) or not np.isfinite(value) or value < 0:
            raise SimkitError(f"{name} = {value!r} is invalid; allowed: a finite number >= 0")
    if disk_size_gib == 0:
        raise SimkitError("disk_size_gib = 0 is invalid; allowed: a finite number > 0")
    s = result.scenario
    db, mon = s.database, s.monitoring
    ready = result.ready_instances.astype(np.float64)
    offered, failed = _per_period(result)
    served = np.maximum(offered - failed, 0.0)

    writes = served * (db.queries_per_request * (1.0 - db.read_fraction))
    database_gib = (
        initial_database_gib + np.cumsum(writes * DATABASE_BYTES_PER_WRITE, axis=1) / _GIB
    )
    log_bytes = LOG_BYTES_PER_REQUEST["debug" if mon.verbose_logging else "info"]
    logs_gib = np.cumsum(offered * log_bytes, axis=1) / _GIB
    disk_gib = database_gib + logs_gib

    bits = offered * ((REQUEST_BYTES + RESPONSE_BYTES) * 8.0)
    if db.topology != "single":
        bits = bits + writes * (WAL_BYTES_PER_WRITE * 8.0 * (db.nodes - 1))
    if db.backups == "continuous":
        bits = bits + writes * (WAL_BYTES_PER_WRITE * 8.0)
    if db.backups != "none":
        # The size at the start of a period: the database before that period's writes.
        before = database_gib - writes * DATABASE_BYTES_PER_WRITE / _GIB
        bits = bits + _backup_bits(result, before)

    return MonitoringSeries(
        start=result.start,
        period_s=result.period_s,
        cpu_percent=_cpu_percent(result, ready),
        memory_mib=_memory_mib(result, ready, served),
        disk_used_gib=disk_gib,
        disk_used_percent=disk_gib / disk_size_gib * 100.0,
        network_mbps=bits / (result.period_s * 1e6),
        error_ratio=np.divide(failed, offered, out=np.zeros_like(failed), where=offered > 0),
        latency_p99_s=_period_latency(result, 2),
        requests=offered,
    )
