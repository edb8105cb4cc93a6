"""Tests of the scenario model (simkit.scenario) and of duration parsing (simkit.units).

Expected messages follow the project rule: one line naming the field path, the
value and what is allowed (simkit/errors.py, ScenarioError docstring).
"""

from __future__ import annotations

import dataclasses
import math

import pytest

import simkit
from simkit.errors import ScenarioError, SimkitError
from simkit.scenario import Scenario, Service
from simkit.units import format_duration, parse_duration

PROFILES = ("production", "development", "experimental")


@pytest.fixture(scope="module")
def prod() -> Scenario:
    return simkit.load_scenario("production")


def _policy(**fields: object) -> dict[str, object]:
    return {"scale_up": {"policies": [{"kind": "Pods", "value": 4, "period_s": 15, **fields}]}}


# (changes for Scenario.replace on production, fragments the message must contain)
BAD_CHANGES = {
    # cross-field rules
    "min>max": (
        {
            "autoscaling__min_replicas": 5,
            "autoscaling__max_replicas": 3,
            "autoscaling__replicas": 3,
        },
        ["autoscaling.min_replicas = 5 > max_replicas = 3", "allowed"],
    ),
    "replicas>max(reactive)": (
        {"autoscaling__replicas": 20},
        ["autoscaling.replicas = 20", "[3, 12]"],  # production min/max replicas 3 and 12
    ),
    "single-db-2-nodes": (
        {"database__topology": "single"},  # production has nodes = 2
        ["database.nodes = 2", "'single'", "nodes = 1"],
    ),
    "replica-db-1-node": ({"database__nodes": 1}, ["database.nodes = 1", ">= 2"]),
    "rolling-no-surge": (
        {"deployment__max_surge": 0, "deployment__max_unavailable": 0},
        ["deployment.max_surge = 0", "max_unavailable = 0", "> 0"],
    ),
    "shares-0.9": (
        {"regions": [{"name": "a", "provider": "aws", "traffic_share": 0.9}]},
        ["regions", "traffic_share adds up to 0.9", "exactly 1"],
    ),
    "shares-1.2": (
        {
            "regions": [
                {"name": "a", "provider": "aws", "traffic_share": 0.6},
                {"name": "b", "provider": "gcp", "traffic_share": 0.6},
            ]
        },
        ["regions", "adds up to 1.2", "exactly 1"],
    ),
    "no-regions": ({"regions": []}, ["regions = []", "at least one region"]),
    "empty-name": ({"name": ""}, ["name = ''", "must not be empty"]),
    "blank-name": ({"name": "   "}, ["name = '   '", "must not be empty"]),
    # unknown keys, also nested and inside lists
    "unknown-top": ({"colour": "red"}, ["colour is not a known field", "allowed:", "service"]),
    "unknown-section-key": ({"service__colour": 1}, ["service.colour is not a known field"]),
    "unknown-behavior-key": (
        {"autoscaling__behavior": {"scale_up": {"foo": 1}}},
        ["autoscaling.behavior.scale_up.foo is not a known field", "select_policy"],
    ),
    "unknown-behavior-direction": (
        {"autoscaling__behavior": {"sideways": {}}},
        ["autoscaling.behavior.sideways is not a known field", "scale_down, scale_up"],
    ),
    "unknown-policy-key": (
        {"autoscaling__behavior": _policy(bar=2)},
        ["autoscaling.behavior.scale_up.policies[0].bar is not a known field", "period_s"],
    ),
    "unknown-region-key": (
        {"regions": [{"name": "a", "provider": "aws", "traffic_share": 1.0, "zone": "b"}]},
        ["regions[0].zone is not a known field", "traffic_share"],
    ),
    "not-a-section": ({"nosection__x": 1}, ["nosection is not a section", "nosection.x"]),
    # wrong types
    "str-for-int": ({"service__port": "8080"}, ["service.port = '8080'", "whole number"]),
    "float-for-int": ({"service__port": 8080.0}, ["service.port = 8080.0", "whole number"]),
    "bool-for-int": ({"autoscaling__replicas": True}, ["autoscaling.replicas = True", "whole"]),
    "str-for-float": (
        {"workload__mean_rate_rps": "40"},
        ["workload.mean_rate_rps = '40'", "finite number"],
    ),
    "bool-for-float": ({"cache__hit_ratio": False}, ["cache.hit_ratio = False", "finite number"]),
    "nan-float": ({"workload__noise_sd": math.nan}, ["workload.noise_sd = nan", "finite"]),
    "inf-float": ({"slo__latency_p99_s": math.inf}, ["slo.latency_p99_s = inf", "finite"]),
    "huge-int-for-float": (
        {"workload__mean_rate_rps": 10**400},
        ["workload.mean_rate_rps", "1e400", "finite number"],
    ),
    "int-for-bool": ({"service__tls": 1}, ["service.tls = 1", "true or false"]),
    "str-for-bool": ({"chaos__enabled": "yes"}, ["chaos.enabled = 'yes'", "true or false"]),
    "int-for-str": ({"service__region": 1}, ["service.region = 1", "must be a string"]),
    "int-name": ({"name": 5}, ["name = 5", "must be a string"]),
    "section-not-table": ({"service": "x"}, ["service = 'x'", "table of fields"]),
    "regions-not-list": ({"regions": "x"}, ["regions = 'x'", "must be a list"]),
    "region-not-table": ({"regions": [5]}, ["regions[0] = 5", "table of fields"]),
    "policies-not-list": (
        {"autoscaling__behavior": {"scale_up": {"policies": {"kind": "Pods"}}}},
        ["autoscaling.behavior.scale_up.policies = {'kind': 'Pods'}", "must be a list"],
    ),
    # out of range (bounds from the field metadata in simkit/scenario.py)
    "port-0": ({"service__port": 0}, ["service.port = 0", "out of range", "[1, 65535]"]),
    "port-65536": ({"service__port": 65536}, ["service.port = 65536", "[1, 65535]"]),
    "service-time-0": (
        {"service__service_time_ms": 0.0},
        ["service.service_time_ms = 0.0", "(0, 60000]"],
    ),
    "amplitude-1": (
        {"workload__diurnal_amplitude": 1.0},
        ["workload.diurnal_amplitude = 1.0", "[0, 1)"],
    ),
    "trend-below": (
        {"workload__trend_per_week": -0.6},
        ["workload.trend_per_week = -0.6", "[-0.5"],
    ),
    "cpu-target-101": (
        {"autoscaling__target_cpu_utilization_percent": 101},
        ["autoscaling.target_cpu_utilization_percent = 101", "[1, 100]"],
    ),
    "replicas-0": ({"autoscaling__replicas": 0}, ["autoscaling.replicas = 0", "[1, 100000]"]),
    "mtbf-negative": (
        {"failures__instance_mtbf_h": -1.0},
        ["failures.instance_mtbf_h = -1.0", "(0, 1e+07]"],
    ),
    "read-fraction": ({"database__read_fraction": 1.5}, ["database.read_fraction = 1.5", "[0, 1]"]),
    "price-negative": (
        {"cost__instance_usd_per_h": -0.01},
        ["cost.instance_usd_per_h = -0.01", "[0, 1000]"],
    ),
    "availability-1": ({"slo__availability": 1.0}, ["slo.availability = 1.0", "(0, 1)"]),
    "availability-0": ({"slo__availability": 0.0}, ["slo.availability = 0.0", "(0, 1)"]),
    "share-above-1": (
        {"regions": [{"name": "a", "provider": "aws", "traffic_share": 1.5}]},
        ["regions[0].traffic_share = 1.5", "[0, 1]"],
    ),
    "policy-value-0": (
        {"autoscaling__behavior": _policy(value=0)},
        ["autoscaling.behavior.scale_up.policies[0].value = 0", "[1, 1e+06]"],
    ),
    "window-below-minus-1": (
        {"autoscaling__behavior": {"scale_down": {"stabilization_window_s": -2}}},
        ["autoscaling.behavior.scale_down.stabilization_window_s = -2", "[-1, 3600]"],
    ),
    # bad choices
    "policy-choice": (
        {"autoscaling__policy": "learned-by-magic"},
        [
            "autoscaling.policy = 'learned-by-magic'",
            "['fixed', 'reactive', 'predictive', 'learned']",
        ],
    ),
    "predictive-needs-forecasting": (
        {"autoscaling__policy": "predictive", "forecasting__enabled": False},
        ["forecasting.enabled", "autoscaling.policy = 'predictive'"],
    ),
    "topology-choice": (
        {"database__topology": "ring"},
        ["database.topology = 'ring'", "'cluster'"],
    ),
    "strategy-choice": (
        {"deployment__strategy": "blue-green"},
        ["deployment.strategy = 'blue-green'", "['rolling', 'recreate']"],
    ),
    "monitoring-choice": ({"monitoring__system": "datadog"}, ["monitoring.system = 'datadog'"]),
    "forecaster-choice": ({"forecasting__forecaster": "lstm"}, ["forecasting.forecaster = 'lstm'"]),
    "region-provider-choice": (
        {
            "regions": [
                {"name": "a", "provider": "aws", "traffic_share": 0.5},
                {"name": "b", "provider": "ibm", "traffic_share": 0.5},
            ]
        },
        ["regions[1].provider = 'ibm'", "'digitalocean'"],
    ),
    "select-policy-choice": (
        {"autoscaling__behavior": {"scale_up": {"select_policy": "Avg"}}},
        ["autoscaling.behavior.scale_up.select_policy = 'Avg'", "['Max', 'Min', 'Disabled']"],
    ),
    "policy-kind-choice": (
        {"autoscaling__behavior": _policy(kind="Nodes")},
        ["autoscaling.behavior.scale_up.policies[0].kind = 'Nodes'", "['Pods', 'Percent']"],
    ),
}


@pytest.mark.parametrize(("changes", "fragments"), BAD_CHANGES.values(), ids=BAD_CHANGES.keys())
def test_bad_value_raises_one_line_error_naming_path_value_and_allowed(
    prod: Scenario, changes: dict[str, object], fragments: list[str]
) -> None:
    with pytest.raises(ScenarioError) as info:
        prod.replace(**changes)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_bad_value_in_from_dict_is_the_same_error(prod: Scenario) -> None:
    data = prod.to_dict()
    data["autoscaling"]["min_replicas"] = 5
    data["autoscaling"]["max_replicas"] = 3
    with pytest.raises(ScenarioError, match=r"^autoscaling\.min_replicas = 5 > max_replicas = 3"):
        Scenario.from_dict(data)


@pytest.mark.parametrize("data", [None, [], "production", 3])
def test_from_dict_needs_a_table(data: object) -> None:
    with pytest.raises(ScenarioError, match="must be a table of fields"):
        Scenario.from_dict(data)


def test_direct_construction_validates() -> None:
    with pytest.raises(ScenarioError, match=r"service\.port = 0 is out of range"):
        Service(port=0)
    with pytest.raises(ScenarioError, match="at least one region"):
        Scenario(regions=())


def test_scenario_error_is_a_simkit_error_and_a_value_error() -> None:
    assert issubclass(ScenarioError, SimkitError)
    assert issubclass(SimkitError, ValueError)
    assert simkit.ScenarioError is ScenarioError


def test_defaults_are_valid_and_frozen() -> None:
    s = Scenario()
    assert s.name == "scenario"
    assert s.regions[0].traffic_share == 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.name = "other"  # type: ignore[misc]


# ------------------------------------------------------------------------ replace / round-trip


def test_replace_returns_a_validated_copy(prod: Scenario) -> None:
    changed = prod.replace(name="bigger", autoscaling__max_replicas=20, service__port=9090)
    assert (changed.name, changed.autoscaling.max_replicas, changed.service.port) == (
        "bigger",
        20,
        9090,
    )
    # the original is untouched and everything else is carried over
    assert (prod.name, prod.autoscaling.max_replicas, prod.service.port) == ("production", 12, 8080)
    assert changed.database == prod.database
    assert changed.replace(name="production", autoscaling__max_replicas=12, service__port=8080) == (
        prod
    )


def test_replace_converts_whole_numbers_to_float(prod: Scenario) -> None:
    s = prod.replace(workload__mean_rate_rps=50)
    assert s.workload.mean_rate_rps == 50.0
    assert type(s.workload.mean_rate_rps) is float


def test_replace_accepts_behavior_and_regions(prod: Scenario) -> None:
    s = prod.replace(
        autoscaling__behavior=_policy(value=2),
        regions=[
            {"name": "a", "provider": "aws", "traffic_share": 0.25},
            {"name": "b", "provider": "azure", "traffic_share": 0.75},
        ],
    )
    assert s.autoscaling.behavior is not None
    assert s.autoscaling.behavior.scale_up is not None
    assert s.autoscaling.behavior.scale_up.policies[0].value == 2
    assert s.autoscaling.behavior.scale_down is None
    assert [r.provider for r in s.regions] == ["aws", "azure"]
    assert Scenario.from_dict(s.to_dict()) == s


@pytest.mark.parametrize("profile", PROFILES)
def test_to_dict_from_dict_round_trips(profile: str) -> None:
    s = simkit.load_scenario(profile)
    data = s.to_dict()
    assert Scenario.from_dict(data) == s
    assert isinstance(data["regions"], list)  # plain data: lists, not tuples
    assert "behavior" not in data["autoscaling"]  # None fields are omitted
    assert hash(Scenario.from_dict(data)) == hash(s)


# ------------------------------------------------------------------------ derived quantities


@pytest.mark.parametrize(
    ("profile", "service_s"),
    [
        ("production", 0.0105),  # 10 ms x (1 + 0.05 TLS)
        ("development", 0.018),  # 10 ms x (1 + 0.5 debug + 0.3 logging), no TLS
        ("experimental", 0.0121),  # 11 ms x (1 + 0.05 TLS + 0.05 logging)
    ],
)
def test_derived_service_times(profile: str, service_s: float) -> None:
    # The cache + database time per request depends on the rate: see
    # simkit.database.backend_latency_at_s (tests/test_capacity_agreement.py).
    s = simkit.load_scenario(profile)
    assert s.service.effective_service_time_s == pytest.approx(service_s, rel=1e-12)
    assert s.service_rate_rps == pytest.approx(1.0 / service_s, rel=1e-12)
    assert not hasattr(s, "backend_latency_s")  # one owner: simkit.database
    assert s.servers_per_instance == 1


# ------------------------------------------------------------------------ units.parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("7D", 604800.0),  # 7 x 86400
        ("7d", 604800.0),
        ("1W", 604800.0),
        ("1w", 604800.0),
        ("1s", 1.0),
        ("10sec", 10.0),
        ("15min", 900.0),
        ("3m", 180.0),
        ("2h", 7200.0),
        ("1.5h", 5400.0),
        (" 2 h ", 7200.0),
        ("500ms", 0.5),
        ("90", 90.0),
        (90, 90.0),
        (0.25, 0.25),
        ("520W", 520 * 604800.0),  # just under the 10-year cap of 315,360,000 s
    ],
)
def test_parse_duration(text: str | float, seconds: float) -> None:
    value = parse_duration(text)
    assert value == seconds
    assert type(value) is float


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abc",
        "h",
        "7 days",
        "1y",
        "1e3",
        "-1h",
        "0",
        "0s",
        "0.0h",
        0,
        0.0,
        -5,
        math.nan,
        math.inf,
        True,
        False,
        None,
        "600W",  # 362,880,000 s > 10 years
    ],
)
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(SimkitError) as info:
        parse_duration(bad, name="--duration")  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"--duration = {bad!r}")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(604800.0, "1W"), (1209600.0, "2W"), (86400.0, "1D"), (7200.0, "2h"), (900.0, "15min"),
     (90.0, "90s"), (0.5, "0.5s")],
)  # fmt: skip
def test_format_duration_round_trips(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds
