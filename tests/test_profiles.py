"""The shipped profiles encode ../shared/seed/system-architecture.md, and every number in
them has a unit and a reason."""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from importlib import resources

import pytest

import simkit
from simkit import scenario as scenario_module
from simkit.scenario import Scenario

PROFILES = ("production", "development", "experimental")

#: Unit suffixes a numeric field name may end with.
UNIT_SUFFIXES = (
    "_s",  # seconds
    "_ms",  # milliseconds
    "_h",  # hours
    "_days",  # days
    "_rps",  # requests per second
    "_milli",  # millicores
    "_percent",  # percent
    "_usd_per_h",  # US dollars per hour
    "_per_day",  # events per day
    "_per_week",  # relative change per week
)

#: Dimensionless numeric fields: counts, fractions, ratios, identifiers.
DIMENSIONLESS = {
    # counts
    "port",
    "replicas",
    "min_replicas",
    "max_replicas",
    "nodes",
    "consumers",
    "max_surge",
    "max_unavailable",
    "workers_per_instance",
    "instances",  # chaos: instances to kill
    "queue_limit_per_instance",
    "queries_per_request",
    "value",  # a scaling policy's pods or percent, by its kind
    # fractions and ratios
    "tls_overhead",
    "debug_overhead",
    "logging_overhead",
    "diurnal_amplitude",
    "weekend_factor",
    "noise_sd",
    "flash_crowd_multiplier",
    "tolerance",
    "read_fraction",
    "headroom",  # learned policy: multiplier on the mean load
    "trend_gain",  # learned policy: weight of the load's rise
    "target_utilization",  # learned policy: busy fraction planned for
    "failed_fraction",  # chaos: share of requests failed on purpose
    "threshold",  # alert rule: in the unit of the rule's series
    "hit_ratio",
    "async_fraction",
    "traffic_share",
    "bad_release_probability",
    "availability",
    # clock hour of the day (0..24, UTC)
    "peak_hour_utc",
}


def _profile_text(name: str) -> str:
    return (resources.files("simkit") / "profiles" / f"{name}.toml").read_text(encoding="utf-8")


_ASSIGNMENT = re.compile(r"^\s*([A-Za-z0-9_]+)\s*=\s*(.*)$")


def _split_comment(rest: str) -> tuple[str, str | None]:
    """Value text and comment (``None`` if absent) of a line without strings or arrays."""
    value, hash_, comment = rest.partition("#")
    return value.strip(), comment.strip() if hash_ else None


def numeric_lines_without_reason(text: str) -> list[str]:
    """Lines ``key = number`` (int, float or bool) with no ``# reason`` comment."""
    missing = []
    for line in text.splitlines():
        match = _ASSIGNMENT.match(line)
        if match is None or match.group(2).lstrip()[:1] in {'"', "'", "[", "{"}:
            continue
        value, comment = _split_comment(match.group(2))
        parsed = tomllib.loads(f"x = {value}")["x"]
        assert isinstance(parsed, bool | int | float), line
        if comment is None or len(comment) < 3:
            missing.append(line)
    return missing


def numeric_keys_in_text(text: str) -> set[str]:
    keys = set()
    for line in text.splitlines():
        match = _ASSIGNMENT.match(line)
        if match and match.group(2).lstrip()[:1] not in {'"', "'", "[", "{"}:
            keys.add(match.group(1))
    return keys


def _leaves(data: object) -> typing.Iterator[tuple[str, object]]:
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, dict | list):
                yield from _leaves(value)
            else:
                yield key, value
    elif isinstance(data, list):
        for item in data:
            yield from _leaves(item)


def names_without_unit(names: typing.Iterable[str]) -> list[str]:
    return sorted(n for n in names if not n.endswith(UNIT_SUFFIXES) and n not in DIMENSIONLESS)


def _schema_numeric_fields() -> set[str]:
    """Names of every int or float field of every scenario section."""
    names = set()
    for obj in vars(scenario_module).values():
        if isinstance(obj, type) and dataclasses.is_dataclass(obj):
            hints = typing.get_type_hints(obj)
            names |= {f.name for f in dataclasses.fields(obj) if hints[f.name] in (int, float)}
    return names


# ------------------------------------------------------------------------ the checkers can fail


def test_checkers_flag_a_number_without_reason_or_unit() -> None:
    text = "[service]\nport = 80  # reason here\nspeed = 3\nfast = true #\nname = 'x'\n"
    assert numeric_lines_without_reason(text) == ["speed = 3", "fast = true #"]
    assert names_without_unit(["speed", "delay_s", "port", "cost_usd_per_h"]) == ["speed"]


# ------------------------------------------------------------------------ reasons and units


@pytest.mark.parametrize("profile", PROFILES)
def test_every_number_has_a_reason(profile: str) -> None:
    text = _profile_text(profile)
    assert numeric_lines_without_reason(text) == []
    # and the line scan saw every number the TOML parser sees
    leaves = {k for k, v in _leaves(tomllib.loads(text)) if isinstance(v, bool | int | float)}
    assert numeric_keys_in_text(text) == leaves


@pytest.mark.parametrize("profile", PROFILES)
def test_every_numeric_key_in_a_profile_has_a_unit(profile: str) -> None:
    data = tomllib.loads(_profile_text(profile))
    numeric = {
        k for k, v in _leaves(data) if isinstance(v, int | float) and not isinstance(v, bool)
    }
    assert len(numeric) > 40  # production has 80-odd numbers; the scan must find them
    assert names_without_unit(numeric) == []


def test_every_numeric_scenario_field_has_a_unit() -> None:
    """A new int/float field in simkit/scenario.py needs a unit suffix or an allow-list entry."""
    fields = _schema_numeric_fields()
    assert {"port", "startup_s", "instance_usd_per_h"} <= fields
    assert names_without_unit(fields) == []
    assert sorted(DIMENSIONLESS - fields) == []  # the allow-list holds no stale names


@pytest.mark.parametrize("profile", PROFILES)
def test_profiles_set_every_field(profile: str) -> None:
    """A profile spells out every value (no silent defaults), except the optional behavior."""
    data = tomllib.loads(_profile_text(profile))
    for f in dataclasses.fields(Scenario):
        assert f.name in data, f.name
        section = getattr(Scenario(), f.name)
        if dataclasses.is_dataclass(section):
            expected = {g.name for g in dataclasses.fields(section)} - {"behavior"}
            assert set(data[f.name]) == expected, f.name


# ------------------------------------------------------------------------ architecture facts


def test_list_profiles() -> None:
    assert simkit.list_profiles() == ["development", "experimental", "production"]


@pytest.mark.parametrize("profile", PROFILES)
def test_profile_name_matches_file(profile: str) -> None:
    assert simkit.load_scenario(profile).name == profile


def test_production_matches_architecture() -> None:
    s = simkit.load_scenario("production")
    assert s.service.port == 8080  # "Production Port: 8080"
    assert s.autoscaling.policy == "reactive"  # "Horizontal auto-scaling (production only)"
    assert s.autoscaling.max_replicas > s.autoscaling.min_replicas
    assert s.database.engine == "postgresql-14"  # "PostgreSQL 14"
    assert s.database.topology == "primary-replica"  # "Master-slave replication"
    assert s.database.nodes == 2
    assert s.database.backups == "scheduled"  # "with automated backups"
    assert s.monitoring.system == "prometheus"  # "Prometheus + Grafana"
    assert s.monitoring.alert_email is True  # "with email alerts"
    assert s.monitoring.verbose_logging is False
    assert s.deployment.strategy == "rolling"  # "Rolling updates"
    assert s.deployment.max_unavailable == 0  # "Zero-downtime: Yes"
    assert s.deployment.automated_rollback is True  # "Rollback: Automated on failure"
    assert s.service.tls is True  # "SSL/TLS encryption"
    assert s.service.region == "us-east-1"  # "Region: us-east-1"
    assert [r.name for r in s.regions] == ["us-east-1"]
    assert s.service.hot_reload is False and s.service.debug_overhead == 0.0
    assert (s.kafka.enabled, s.chaos.enabled, s.forecasting.enabled) == (False, False, False)


def test_development_matches_architecture() -> None:
    s = simkit.load_scenario("development")
    assert s.service.port == 3000  # "Development Port: 3000"
    assert s.autoscaling.policy == "fixed"  # auto-scaling is production only
    assert (s.autoscaling.replicas, s.autoscaling.min_replicas, s.autoscaling.max_replicas) == (
        1,
        1,
        1,
    )
    assert s.service.debug_overhead > 0  # "Hot reload, debug mode"
    assert s.service.hot_reload is True
    assert s.database.topology == "single" and s.database.nodes == 1  # "Single local instance"
    assert s.monitoring.system == "console"  # "Console logging"
    assert s.monitoring.verbose_logging is True  # "with verbose output"
    assert s.deployment.method == "docker-compose"  # "Method: Docker Compose"
    assert s.deployment.strategy == "recreate"
    assert s.deployment.tests_gate is True  # "Automated tests before deployment"
    assert s.service.tls is False  # "Relaxed security"


def test_experimental_matches_architecture() -> None:
    s = simkit.load_scenario("experimental")
    assert s.database.topology == "cluster" and s.database.nodes == 5  # "Cluster (5 nodes)"
    assert s.database.backups == "continuous"  # "Continuous geo-redundant backup"
    assert s.cache.enabled is True and s.cache.kind == "redis"  # "Redis caching"
    assert s.kafka.enabled is True  # "Kafka for event-driven communication"
    assert s.chaos.enabled is True  # "chaos engineering testing"
    assert s.forecasting.enabled is True  # "Predictive auto-scaling"
    assert s.forecasting.anomaly_detection is True  # "Models: anomaly detection"
    assert s.monitoring.system == "prometheus-thanos"  # "Prometheus + Thanos"
    assert s.monitoring.log_analysis == "elk-ai"  # "ELK Stack + AI-based log analysis"
    # "Supported Clouds: AWS, Azure, GCP, DigitalOcean"
    assert len(s.regions) == 4
    assert [r.provider for r in s.regions] == ["aws", "azure", "gcp", "digitalocean"]
    assert sum(r.traffic_share for r in s.regions) == pytest.approx(1.0, abs=1e-12)


def test_profiles_compare_on_equal_load() -> None:
    """The three profiles carry the same [workload], so differences come from the system."""
    loads = {p: simkit.load_scenario(p).workload for p in PROFILES}
    assert loads["production"] == loads["development"] == loads["experimental"]
    assert loads["production"].mean_rate_rps == 40.0
