"""Scenario model: frozen, validated dataclasses built from plain data (TOML).

A scenario is data, not code.  Every section is a frozen dataclass whose fields
carry their unit in the name and their allowed range in the field metadata;
validation happens at construction, so an invalid :class:`Scenario` cannot exist.
Errors are :class:`~simkit.errors.ScenarioError` with a one-line message naming
the field path, the value and what is allowed.

Sections honoured by the engine today: ``service``, ``workload``,
``autoscaling``, ``failures``, ``database`` (query latency), ``cache`` (hit
ratio), ``cost`` and ``slo``.  ``deployment``, ``monitoring``, ``regions``,
``kafka``, ``chaos`` and ``forecasting`` are validated data that later
mechanisms (failure/deploy model, predictive scaling) consume.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from simkit.errors import ScenarioError

__all__ = [
    "Autoscaling",
    "Cache",
    "Chaos",
    "ChaosExperiment",
    "Cost",
    "Database",
    "Deployment",
    "Failures",
    "Forecasting",
    "Kafka",
    "Learned",
    "Monitoring",
    "Region",
    "ScalingPolicySpec",
    "ScalingRulesSpec",
    "Scenario",
    "Service",
    "Slo",
    "Workload",
]


def _f(
    default: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A dataclass field with its allowed range or choices in the metadata."""
    meta = {"lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open, "choices": choices}
    if isinstance(default, list | dict):
        raise TypeError("mutable default")  # pragma: no cover - programming error
    return field(default=default, metadata=meta)


def _describe_range(meta: dict[str, Any]) -> str:
    lo, hi = meta["lo"], meta["hi"]
    left = "(" if meta["lo_open"] else "["
    right = ")" if meta["hi_open"] else "]"
    lo_s = "-inf" if lo is None else f"{lo:g}"
    hi_s = "inf" if hi is None else f"{hi:g}"
    return f"a number in {left}{lo_s}, {hi_s}{right}"


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


class _Section:
    """Mixin: type and range checks for every field, run in ``__post_init__``."""

    PATH: ClassVar[str] = ""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            path = f"{self.PATH}.{f.name}" if self.PATH else f.name
            _check_value(path, value, hints[f.name], f.metadata)
        self._check()

    def _check(self) -> None:
        """Cross-field checks; overridden by sections that need them."""

    def _fail(self, name: str, message: str) -> None:
        path = f"{self.PATH}.{name}" if self.PATH else name
        raise ScenarioError(f"{path} {message}")

    @classmethod
    def from_dict(cls, data: Any, path: str | None = None) -> Self:
        """Build the section from a mapping, rejecting unknown keys.

        Parameters
        ----------
        data : mapping
            Keys are field names; nested sections are mappings or lists of mappings.
        path : str, optional
            Field path of this section, for error messages.
        """
        path = cls.PATH if path is None else path
        if not isinstance(data, dict):
            raise ScenarioError(f"{path or 'scenario'} = {data!r} must be a table of fields")
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - names)
        if unknown:
            where = f"{path}.{unknown[0]}" if path else unknown[0]
            raise ScenarioError(
                f"{where} is not a known field; allowed: {', '.join(sorted(names))}"
            )
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for key, value in data.items():
            sub = f"{path}.{key}" if path else key
            kwargs[key] = _convert(sub, value, hints[key])
        try:
            return cls(**kwargs)
        except ScenarioError as exc:
            # Checks name fields by the class PATH; a section inside a list or
            # under another name (regions[1], behavior.scale_up) has a longer one.
            message = str(exc)
            if cls.PATH and path != cls.PATH and message.startswith(f"{cls.PATH}."):
                raise ScenarioError(path + message[len(cls.PATH) :]) from None
            raise


def _section_type(tp: Any) -> type | None:
    if isinstance(tp, type) and issubclass(tp, _Section):
        return tp
    return None


def _convert(path: str, value: Any, tp: Any) -> Any:
    """Turn TOML data into field values: nested sections, tuples, ints to floats."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(path, value, args[0])
    section = _section_type(tp)
    if section is not None:
        if isinstance(value, section):  # already built (e.g. a ChaosExperiment object)
            return value
        return section.from_dict(value, path)
    if origin is tuple:
        (item_tp, _) = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise ScenarioError(f"{path} = {value!r} must be a list")
        return tuple(_convert(f"{path}[{i}]", v, item_tp) for i, v in enumerate(value))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            digits = int(abs(value).bit_length() * math.log10(2))
            raise ScenarioError(
                f"{path} = about 1e{digits} is too large; allowed: a finite number"
            ) from None
    return value


def _check_value(path: str, value: Any, tp: Any, meta: Any) -> None:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        if value is None:
            return
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
        origin = typing.get_origin(tp)
    section = _section_type(tp)
    if section is not None:
        if not isinstance(value, section):
            raise ScenarioError(f"{path} = {value!r} must be a {section.__name__}")
        return
    if origin is tuple:
        (item_tp, _) = typing.get_args(tp)
        if not isinstance(value, tuple):
            raise ScenarioError(f"{path} = {value!r} must be a list")
        for i, item in enumerate(value):
            _check_value(f"{path}[{i}]", item, item_tp, meta)
        return
    if tp is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value):
            raise ScenarioError(f"{path} = {value!r} must be a finite number")
    elif tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ScenarioError(f"{path} = {value!r} must be a whole number")
    elif tp is bool:
        if not isinstance(value, bool):
            raise ScenarioError(f"{path} = {value!r} must be true or false")
    elif tp is str and not isinstance(value, str):
        raise ScenarioError(f"{path} = {value!r} must be a string")
    if not meta:
        return
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ScenarioError(f"{path} = {value!r} is not allowed; choose one of {list(choices)}")
    if tp in (int, float):
        lo, hi = meta.get("lo"), meta.get("hi")
        too_low = lo is not None and (value <= lo if meta["lo_open"] else value < lo)
        too_high = hi is not None and (value >= hi if meta["hi_open"] else value > hi)
        if too_low or too_high:
            raise ScenarioError(
                f"{path} = {value!r} is out of range; allowed: {_describe_range(meta)}"
            )


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class Service(_Section):
    """The Node.js/Express application tier."""

    PATH: ClassVar[str] = "service"
    port: int = _f(8080, lo=1, hi=65535)
    region: str = "us-east-1"
    tls: bool = True
    tls_overhead: float = _f(0.0, lo=0.0, hi=1.0)
    """Extra CPU per request for TLS, as a fraction of the plain service time."""
    debug_overhead: float = _f(0.0, lo=0.0, hi=10.0)
    """Extra CPU per request in debug mode / hot reload, as a fraction."""
    logging_overhead: float = _f(0.0, lo=0.0, hi=10.0)
    """Extra CPU per request for verbose console logging, as a fraction."""
    hot_reload: bool = False
    service_time_ms: float = _f(10.0, lo=0.0, lo_open=True, hi=60000.0)
    """Mean CPU time of one request on one event loop, without overheads [ms]."""
    workers_per_instance: int = _f(1, lo=1, hi=256)
    """Event loops (Node.js cluster workers) per instance: servers per instance."""
    timeout_s: float = _f(30.0, lo=0.0, lo_open=True, hi=3600.0)
    queue_limit_per_instance: int = _f(1024, lo=1, hi=10**7)
    """Requests an instance holds waiting before it rejects new ones."""

    @property
    def effective_service_time_s(self) -> float:
        """Mean service time with TLS, debug and logging overheads [s]."""
        factor = 1.0 + self.tls_overhead * self.tls + self.debug_overhead + self.logging_overhead
        return self.service_time_ms * 1e-3 * factor


@dataclass(frozen=True)
class Workload(_Section):
    """Synthetic offered load: seasonality, trend, noise and flash crowds."""

    PATH: ClassVar[str] = "workload"
    mean_rate_rps: float = _f(40.0, lo=0.0, hi=1e9)
    diurnal_amplitude: float = _f(0.5, lo=0.0, hi=1.0, hi_open=True)
    peak_hour_utc: float = _f(19.0, lo=0.0, hi=24.0, hi_open=True)
    weekend_factor: float = _f(0.8, lo=0.0, lo_open=True, hi=5.0)
    trend_per_week: float = _f(0.0, lo=-0.5, hi=5.0)
    noise_sd: float = _f(0.1, lo=0.0, hi=2.0)
    """Standard deviation of the log of the multiplicative rate noise."""
    noise_correlation_s: float = _f(600.0, lo=0.0, lo_open=True, hi=30 * 86400.0)
    flash_crowds_per_day: float = _f(0.0, lo=0.0, hi=1000.0)
    flash_crowd_multiplier: float = _f(3.0, lo=1.0, hi=1000.0)
    flash_crowd_duration_s: float = _f(600.0, lo=0.0, lo_open=True, hi=86400.0)


@dataclass(frozen=True)
class ScalingPolicySpec(_Section):
    """One HPA scaling policy (``spec.behavior.scaleUp.policies[i]``)."""

    PATH: ClassVar[str] = "autoscaling.behavior.policy"
    kind: str = _f("Pods", choices=("Pods", "Percent"))
    value: int = _f(4, lo=1, hi=10**6)
    period_s: int = _f(15, lo=1, hi=1800)


@dataclass(frozen=True)
class ScalingRulesSpec(_Section):
    """HPA rules for one direction; ``stabilization_window_s = -1`` means the default."""

    PATH: ClassVar[str] = "autoscaling.behavior.rules"
    stabilization_window_s: int = _f(-1, lo=-1, hi=3600)
    select_policy: str = _f("Max", choices=("Max", "Min", "Disabled"))
    policies: tuple[ScalingPolicySpec, ...] = ()


@dataclass(frozen=True)
class Behavior(_Section):
    """HPA ``spec.behavior``; an absent direction takes the Kubernetes API default."""

    PATH: ClassVar[str] = "autoscaling.behavior"
    scale_up: ScalingRulesSpec | None = None
    scale_down: ScalingRulesSpec | None = None


@dataclass(frozen=True)
class Autoscaling(_Section):
    """Instance count policy: fixed, or the Kubernetes HPA on CPU utilization."""

    PATH: ClassVar[str] = "autoscaling"
    policy: str = _f("fixed", choices=("fixed", "reactive", "predictive", "learned"))
    replicas: int = _f(1, lo=1, hi=100_000)
    """Instances at the start (and always, for ``fixed``)."""
    min_replicas: int = _f(1, lo=1, hi=100_000)
    max_replicas: int = _f(1, lo=1, hi=100_000)
    target_cpu_utilization_percent: int = _f(80, lo=1, hi=100)
    tolerance: float = _f(0.1, lo=0.0, hi=1.0, hi_open=True)
    sync_period_s: float = _f(15.0, lo=1.0, hi=600.0)
    downscale_stabilization_s: float = _f(300.0, lo=0.0, hi=3600.0)
    startup_s: float = _f(30.0, lo=0.0, hi=3600.0)
    """Time from a scale-up decision until the new instance is Ready [s]."""
    metric_lag_s: float = _f(15.0, lo=0.0, hi=3600.0)
    """Age of the CPU sample the HPA sees (metrics-server scrape) [s]."""
    cpu_request_milli: int = _f(500, lo=1, hi=10**7)
    cpu_busy_milli: int = _f(1000, lo=1, hi=10**7)
    """CPU used by one busy event loop [millicores]."""
    cpu_idle_milli: int = _f(25, lo=0, hi=10**7)
    """CPU used by an idle instance [millicores]."""
    behavior: Behavior | None = None

    def _check(self) -> None:
        if self.min_replicas > self.max_replicas:
            self._fail(
                "min_replicas",
                f"= {self.min_replicas} > max_replicas = {self.max_replicas}; "
                "allowed: min_replicas <= max_replicas",
            )
        if self.policy != "fixed" and not (self.min_replicas <= self.replicas <= self.max_replicas):
            self._fail(
                "replicas",
                f"= {self.replicas} is outside [min_replicas, max_replicas] = "
                f"[{self.min_replicas}, {self.max_replicas}]",
            )


@dataclass(frozen=True)
class Failures(_Section):
    """Independent instance crashes and repairs (exponential MTBF/MTTR).

    ``detection_s`` is the time the load balancer keeps sending requests to a
    crashed instance [s].  With ``health_check`` (a liveness probe: Kubernetes)
    a crashed instance restarts by itself after a repair time of mean
    ``instance_mttr_s``; without one (a plain container) it stays down until
    the alert rule that detects ``instance_crash`` fires, then takes a repair
    time of mean ``instance_mttr_s`` (a person restarting it).  ``enabled = false``
    turns instance crashes off (a pure queueing model): no crash times are drawn.
    """

    PATH: ClassVar[str] = "failures"
    enabled: bool = True
    instance_mtbf_h: float = _f(168.0, lo=0.0, lo_open=True, hi=1e7)
    instance_mttr_s: float = _f(60.0, lo=0.0, lo_open=True, hi=1e7)
    detection_s: float = _f(10.0, lo=0.0, hi=3600.0)
    health_check: bool = True


@dataclass(frozen=True)
class Database(_Section):
    """PostgreSQL tier; query latency is honoured now, failover by the failure model."""

    PATH: ClassVar[str] = "database"
    engine: str = "postgresql-14"
    topology: str = _f("primary-replica", choices=("single", "primary-replica", "cluster"))
    nodes: int = _f(2, lo=1, hi=100)
    queries_per_request: float = _f(2.0, lo=0.0, hi=1000.0)
    query_time_ms: float = _f(2.0, lo=0.0, hi=60000.0)
    read_fraction: float = _f(0.8, lo=0.0, hi=1.0)
    backups: str = _f("scheduled", choices=("none", "scheduled", "continuous"))
    backup_interval_h: float = _f(24.0, lo=0.0, lo_open=True, hi=8760.0)
    failover_s: float = _f(30.0, lo=0.0, hi=86400.0)
    primary_mtbf_h: float = _f(2160.0, lo=0.0, lo_open=True, hi=1e7)
    primary_mttr_s: float = _f(1800.0, lo=0.0, lo_open=True, hi=1e7)

    def _check(self) -> None:
        if self.topology == "single" and self.nodes != 1:
            self._fail("nodes", f"= {self.nodes} but topology = 'single' needs nodes = 1")
        if self.topology != "single" and self.nodes < 2:
            self._fail("nodes", f"= {self.nodes} but topology = {self.topology!r} needs >= 2")


@dataclass(frozen=True)
class Cache(_Section):
    """Read cache in front of the database (Redis in the experimental build)."""

    PATH: ClassVar[str] = "cache"
    enabled: bool = False
    kind: str = _f("redis", choices=("redis",))
    hit_ratio: float = _f(0.0, lo=0.0, hi=1.0)
    lookup_ms: float = _f(0.3, lo=0.0, hi=1000.0)


#: Monitoring series an alert rule can watch (``simkit.monitoring.SERIES_UNITS``).
ALERT_SERIES = (
    "cpu_percent",
    "memory_mib",
    "disk_used_gib",
    "disk_used_percent",
    "network_mbps",
    "error_ratio",
    "latency_p99_s",
)
#: Incident kinds whose detection comes from an alert rule (``AlertRule.detects``).
INCIDENT_KINDS = ("bad_release", "database", "region", "instance_crash", "chaos")
#: Where a firing alert goes.  ``console``: nobody is notified; a person reading
#: the console notices after the rule's ``for_s``.
RECEIVERS = ("page", "ticket", "email", "console")


@dataclass(frozen=True)
class AlertRule(_Section):
    """One alerting rule: ``series op threshold`` held for ``for_s`` seconds.

    Evaluated with Prometheus ``for`` semantics every ``monitoring.eval_interval_s``
    on the monitoring series (:mod:`simkit.detection`).  With ``window_s > 0`` the
    series is averaged over a trailing window first (for ``error_ratio``: errors
    over requests in the window, as ``sum(rate(errors[w])) / sum(rate(requests[w]))``);
    with ``short_window_s > 0`` the condition must also hold over that shorter
    window (the multi-window burn-rate alerts of the Google SRE workbook).
    ``detects`` names the incident kinds whose detection time this rule sets: the
    failure mechanisms date their incidents by its first firing.  For the
    ``console`` receiver ``for_s`` is the time a person watching the console
    takes to notice (a fixed delay in this model).
    """

    PATH: ClassVar[str] = "monitoring.rules"
    name: str = "HighErrorRatio"
    series: str = _f("error_ratio", choices=ALERT_SERIES)
    op: str = _f(">", choices=(">", "<"))
    threshold: float = _f(0.01, lo=-1e12, hi=1e12)
    for_s: float = _f(300.0, lo=0.0, hi=7 * 86400.0)
    window_s: float = _f(0.0, lo=0.0, hi=31 * 86400.0)
    short_window_s: float = _f(0.0, lo=0.0, hi=31 * 86400.0)
    severity: str = _f("critical", choices=("critical", "warning", "info"))
    receiver: str = _f("page", choices=RECEIVERS)
    detects: tuple[str, ...] = _f((), choices=INCIDENT_KINDS)

    def _check(self) -> None:
        if not self.name.strip():
            self._fail("name", f"= {self.name!r} must not be empty")
        if self.short_window_s > 0 and not 0 < self.short_window_s <= self.window_s:
            self._fail(
                "short_window_s",
                f"= {self.short_window_s!r} needs 0 < short_window_s <= window_s "
                f"(= {self.window_s!r})",
            )
        if self.detects and (self.series, self.op, self.window_s) != ("error_ratio", ">", 0.0):
            self._fail(
                "detects",
                f"= {list(self.detects)} needs series = 'error_ratio', op = '>' and "
                "window_s = 0: failure mechanisms date detection on their own error ratio",
            )
        if len(set(self.detects)) != len(self.detects):
            self._fail("detects", f"= {list(self.detects)} names a kind twice")


#: Rules of a Prometheus profile unless its file lists its own (SLO 99.9 %).
DEFAULT_RULES = (
    AlertRule(detects=INCIDENT_KINDS),
    AlertRule("HighLatencyP99", "latency_p99_s", ">", 0.3, 600.0, severity="warning"),
    AlertRule("HighCPU", "cpu_percent", ">", 90.0, 900.0, severity="warning", receiver="email"),
    AlertRule(
        "DiskAlmostFull",
        "disk_used_percent",
        ">",
        95.0,
        1800.0,
        severity="warning",
        receiver="email",
    ),
)


#: The multi-window, multi-burn-rate alerts of the Google SRE workbook ("Alerting
#: on SLOs", table 5-8): (name, receiver, budget share, long window [s], short [s]).
BURN_RATE_ALERTS = (
    ("SLOBurnPage1h", "page", 0.02, 3600.0, 300.0),
    ("SLOBurnPage6h", "page", 0.05, 21600.0, 1800.0),
    ("SLOBurnTicket1d", "ticket", 0.10, 86400.0, 7200.0),
    ("SLOBurnTicket3d", "ticket", 0.10, 259200.0, 21600.0),
)


def burn_rate_rules(availability: float, window_days: float) -> tuple[AlertRule, ...]:
    """Burn-rate alert rules for an SLO: fire while both windows burn faster than
    ``budget share x SLO window / long window`` (as an error ratio: times ``1 -
    availability``).  14.4, 6, 3 and 1 for a 30-day window; 13.44, 5.6, 2.8 and
    0.93 for 28 days."""
    window_s = window_days * 86400.0
    return tuple(
        AlertRule(
            name,
            threshold=share * window_s / long_s * (1.0 - availability),
            for_s=0.0,
            window_s=long_s,
            short_window_s=short_s,
            severity="critical" if receiver == "page" else "warning",
            receiver=receiver,
        )
        for name, receiver, share, long_s, short_s in BURN_RATE_ALERTS
    )


@dataclass(frozen=True)
class Monitoring(_Section):
    """Metrics and alerting stack, with the alert rules that detect incidents."""

    PATH: ClassVar[str] = "monitoring"
    system: str = _f("prometheus", choices=("prometheus", "prometheus-thanos", "console"))
    scrape_interval_s: float = _f(15.0, lo=1.0, hi=3600.0)
    eval_interval_s: float = _f(15.0, lo=1.0, hi=3600.0)
    alert_email: bool = True
    verbose_logging: bool = False
    log_analysis: str = _f("none", choices=("none", "elk", "elk-ai"))
    rules: tuple[AlertRule, ...] = DEFAULT_RULES

    def _check(self) -> None:
        names = [r.name for r in self.rules]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            self._fail("rules", f"name {dup[0]!r} more than once; allowed: distinct names")
        for kind in INCIDENT_KINDS:
            owners = [r.name for r in self.rules if kind in r.detects]
            if len(owners) != 1:
                self._fail(
                    "rules",
                    f"detect {kind!r} in {len(owners)} rules {owners}; allowed: exactly one "
                    "rule lists it in `detects`",
                )

    def detection_rule(self, kind: str) -> AlertRule:
        """The rule whose first firing dates incidents of ``kind``."""
        return next(r for r in self.rules if kind in r.detects)


@dataclass(frozen=True)
class Deployment(_Section):
    """How releases reach the instances."""

    PATH: ClassVar[str] = "deployment"
    method: str = _f("kubernetes", choices=("kubernetes", "docker-compose"))
    strategy: str = _f("rolling", choices=("rolling", "recreate"))
    deploys_per_day: float = _f(1.0, lo=0.0, hi=1000.0)
    max_surge: int = _f(1, lo=0, hi=100_000)
    max_unavailable: int = _f(0, lo=0, hi=100_000)
    bad_release_probability: float = _f(0.05, lo=0.0, hi=1.0)
    automated_rollback: bool = True
    tests_gate: bool = True

    def _check(self) -> None:
        if self.strategy == "rolling" and self.max_surge == 0 and self.max_unavailable == 0:
            self._fail("max_surge", "= 0 and max_unavailable = 0: a rolling update needs one > 0")


@dataclass(frozen=True)
class Region(_Section):
    """One region (and cloud) serving a share of the traffic."""

    PATH: ClassVar[str] = "regions"
    name: str = "us-east-1"
    provider: str = _f("aws", choices=("aws", "azure", "gcp", "digitalocean"))
    traffic_share: float = _f(1.0, lo=0.0, hi=1.0)


@dataclass(frozen=True)
class Kafka(_Section):
    """Event-driven path through a topic (experimental)."""

    PATH: ClassVar[str] = "kafka"
    enabled: bool = False
    async_fraction: float = _f(0.0, lo=0.0, hi=1.0)
    consumers: int = _f(1, lo=1, hi=10_000)
    retention_h: float = _f(168.0, lo=0.0, lo_open=True, hi=1e6)


@dataclass(frozen=True)
class ChaosExperiment(_Section):
    """One fault injected at a fixed time, identically in every replication.

    ``kind`` is one of: ``kill_instances`` (``instances`` crash at ``at_s``
    and restart as crashed instances do), ``region_down`` (``region`` is out for
    ``duration_s``), ``db_primary_down`` (the database primary is lost for
    ``duration_s``; replicated topologies fail over), ``cache_restart`` (the
    cache comes back cold), ``latency`` (``added_ms`` on every request for
    ``duration_s``), ``fail_requests`` (``failed_fraction`` of requests fails for
    ``duration_s``).
    """

    PATH: ClassVar[str] = "chaos.experiments"
    kind: str = _f(
        "kill_instances",
        choices=(
            "kill_instances",
            "region_down",
            "db_primary_down",
            "cache_restart",
            "latency",
            "fail_requests",
        ),
    )
    at_s: float = _f(0.0, lo=0.0, hi=10 * 365 * 86400.0)
    duration_s: float = _f(60.0, lo=0.0, lo_open=True, hi=365 * 86400.0)
    instances: int = _f(1, lo=1, hi=100_000)
    region: str = ""
    added_ms: float = _f(0.0, lo=0.0, hi=3_600_000.0)
    failed_fraction: float = _f(0.0, lo=0.0, hi=1.0)

    def _check(self) -> None:
        if self.kind == "region_down" and not self.region:
            self._fail("region", "= '' but kind = 'region_down' needs the region's name")
        if self.kind == "fail_requests" and self.failed_fraction <= 0:
            self._fail(
                "failed_fraction",
                f"= {self.failed_fraction!r} but kind = 'fail_requests' needs > 0",
            )
        if self.kind == "latency" and self.added_ms <= 0:
            self._fail("added_ms", f"= {self.added_ms!r} but kind = 'latency' needs > 0")


@dataclass(frozen=True)
class Chaos(_Section):
    """Chaos engineering: a schedule of experiments applied to every replication."""

    PATH: ClassVar[str] = "chaos"
    enabled: bool = False
    experiments: tuple[ChaosExperiment, ...] = ()


@dataclass(frozen=True)
class Forecasting(_Section):
    """Predictive scaling settings, used by ``autoscaling.policy = "predictive"``.

    ``mode = "forecast_only"`` records the capacity floor the policy would have
    set without applying it.
    """

    PATH: ClassVar[str] = "forecasting"
    enabled: bool = False
    mode: str = _f("active", choices=("active", "forecast_only"))
    forecaster: str = _f(
        "profile-level",
        choices=("persistence", "seasonal-naive", "holt-winters", "profile-level"),
    )
    history_days: float = _f(14.0, lo=1.0, hi=365.0)
    scheduling_buffer_s: float = _f(300.0, lo=0.0, hi=86400.0)
    anomaly_detection: bool = False


@dataclass(frozen=True)
class Learned(_Section):
    """Parameters of the learned scaling policy (``autoscaling.policy = "learned"``).

    The policy keeps a capacity floor under the HPA from two exponentially
    weighted means of the observed load; its parameters are found by policy
    search in simulation (see :mod:`simkit.training`).
    """

    PATH: ClassVar[str] = "learned"
    headroom: float = _f(1.2, lo=0.5, hi=5.0)
    """Multiplier on the short-window mean load [-]."""
    trend_gain: float = _f(1.0, lo=0.0, hi=20.0)
    """Weight of the rise of the short over the long mean [-]."""
    short_window_s: float = _f(300.0, lo=15.0, hi=86400.0)
    long_window_s: float = _f(3600.0, lo=15.0, hi=7 * 86400.0)
    target_utilization: float = _f(0.5, lo=0.05, hi=0.95)
    """Busy fraction per instance the floor plans for [-]."""

    def _check(self) -> None:
        if self.long_window_s < self.short_window_s:
            self._fail(
                "long_window_s",
                f"= {self.long_window_s:g} < short_window_s = {self.short_window_s:g}; "
                "allowed: long_window_s >= short_window_s",
            )


@dataclass(frozen=True)
class Cost(_Section):
    """Prices of what the scenario runs."""

    PATH: ClassVar[str] = "cost"
    provider: str = _f("aws", choices=("aws", "azure", "gcp", "digitalocean", "local"))
    instance_type: str = "t3.medium"
    instance_usd_per_h: float = _f(0.0416, lo=0.0, hi=1000.0)


@dataclass(frozen=True)
class Slo(_Section):
    """Service level objective used for ``slo_minutes_violated`` and error budgets."""

    PATH: ClassVar[str] = "slo"
    latency_p99_s: float = _f(0.3, lo=0.0, lo_open=True, hi=3600.0)
    availability: float = _f(0.999, lo=0.0, lo_open=True, hi=1.0, hi_open=True)
    window_days: float = _f(28.0, lo=1.0, hi=366.0)


@dataclass(frozen=True)
class Scenario(_Section):
    """A whole simulated system: one profile of the architecture.

    Build one with :func:`simkit.io.load_scenario` (a profile name or a TOML
    file) or :meth:`Scenario.from_dict`; change one with :meth:`replace`.
    """

    PATH: ClassVar[str] = ""
    name: str = "scenario"
    description: str = ""
    service: Service = field(default_factory=Service)
    workload: Workload = field(default_factory=Workload)
    autoscaling: Autoscaling = field(default_factory=Autoscaling)
    failures: Failures = field(default_factory=Failures)
    database: Database = field(default_factory=Database)
    cache: Cache = field(default_factory=Cache)
    monitoring: Monitoring = field(default_factory=Monitoring)
    deployment: Deployment = field(default_factory=Deployment)
    regions: tuple[Region, ...] = (Region(),)
    kafka: Kafka = field(default_factory=Kafka)
    chaos: Chaos = field(default_factory=Chaos)
    forecasting: Forecasting = field(default_factory=Forecasting)
    learned: Learned = field(default_factory=Learned)
    cost: Cost = field(default_factory=Cost)
    slo: Slo = field(default_factory=Slo)

    def _check(self) -> None:
        if not self.name.strip():
            self._fail("name", f"= {self.name!r} must not be empty")
        if not self.regions:
            self._fail("regions", "= [] needs at least one region")
        if self.autoscaling.policy == "predictive" and not self.forecasting.enabled:
            self._fail(
                "forecasting.enabled",
                "= false but autoscaling.policy = 'predictive' needs forecasting.enabled = true",
            )
        names = [r.name for r in self.regions]
        for i, exp in enumerate(self.chaos.experiments):
            if exp.kind == "region_down" and exp.region not in names:
                self._fail(
                    f"chaos.experiments[{i}].region",
                    f"= {exp.region!r} is not a region of this scenario; allowed: {names}",
                )
        share = sum(r.traffic_share for r in self.regions)
        if abs(share - 1.0) > 1e-9:
            self._fail("regions", f"traffic_share adds up to {share:g}; allowed: exactly 1")

    def replace(self, **changes: Any) -> Scenario:
        """Return a copy with changes, given as ``section__field=value`` or ``name=...``.

        Examples
        --------
        >>> s = Scenario().replace(autoscaling__replicas=3, autoscaling__max_replicas=3)
        >>> s.autoscaling.replicas
        3
        """
        data = self.to_dict()
        for key, value in changes.items():
            section, _, name = key.partition("__")
            if not name:
                data[section] = value
                continue
            if section not in data or not isinstance(data[section], dict):
                raise ScenarioError(f"{section} is not a section; cannot set {section}.{name}")
            data[section][name] = value
        return Scenario.from_dict(_plain(data))

    def to_dict(self) -> dict[str, Any]:
        """Plain nested data (the inverse of :meth:`from_dict`); ``None`` fields omitted."""
        return _strip_none(dataclasses.asdict(self))

    @property
    def service_rate_rps(self) -> float:
        """Requests per second one event loop serves when busy [1/s]."""
        return 1.0 / self.service.effective_service_time_s

    @property
    def servers_per_instance(self) -> int:
        """M/M/c servers contributed by one instance."""
        return self.service.workers_per_instance


def _plain(obj: Any) -> Any:
    """Section objects inside ``replace`` arguments, turned back into plain data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _strip_none(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


def _strip_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list | tuple):
        return [_strip_none(v) for v in obj]
    return obj
