"""The scaling-policy registry: one entry per ``autoscaling.policy`` choice, the floors
the engine gets from each, and the layering (the engine never imports the training)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

import simkit
from simkit.autoscaling import NO_FLOOR, POLICIES, PolicyFloor
from simkit.autoscaling.learned import learned_floor
from simkit.autoscaling.predictive import forecast_floor
from simkit.scenario import Autoscaling

PERIOD_S = 15.0


def test_registry_keys_are_the_scenario_choices():
    (policy_field,) = [f for f in dataclasses.fields(Autoscaling) if f.name == "policy"]
    choices = policy_field.metadata["choices"]
    assert tuple(POLICIES) == tuple(choices)
    for name, policy in POLICIES.items():
        assert policy.name == name
        assert policy.description and "\n" not in policy.description


def test_configure_selects_the_policy():
    base = simkit.load_scenario("production")
    for name, policy in POLICIES.items():
        s = policy.configure(base)
        assert s.autoscaling.policy == name
        assert s.forecasting.enabled == (name == "predictive")
        assert policy.max_instances(s) == (
            s.autoscaling.replicas if name == "fixed" else s.autoscaling.max_replicas
        )


@pytest.fixture(scope="module")
def rate() -> np.ndarray:
    rng = np.random.default_rng(1)
    days = 3
    t = np.arange(days * 5760) * PERIOD_S
    daily = 120.0 * (1.0 + 0.5 * np.sin(2 * np.pi * t / 86400.0))
    return daily * rng.uniform(0.9, 1.1, size=(2, t.size))


def _scenario(policy: str, **changes: object) -> simkit.Scenario:
    return simkit.load_scenario("production").replace(
        autoscaling__policy=policy, autoscaling__max_replicas=40, **changes
    )


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))


@pytest.mark.parametrize(
    ("policy", "forecasting", "mode", "applied", "recorded"),
    [
        ("fixed", True, "active", None, False),
        ("reactive", False, "active", None, False),
        ("reactive", True, "active", None, True),  # records the forecast floor, never applies it
        ("predictive", True, "active", "forecast", True),
        ("predictive", True, "forecast_only", None, True),  # records without applying
        ("learned", False, "active", "learned", False),
        ("learned", True, "active", "learned", False),  # no forecast whatever forecasting says
    ],
)
def test_floor_per_policy(rate, policy, forecasting, mode, applied, recorded):
    s = _scenario(policy, forecasting__enabled=forecasting, forecasting__mode=mode)
    plan = POLICIES[policy].floor(s, rate, PERIOD_S)
    assert isinstance(plan, PolicyFloor)
    floor, forecast_rps = forecast_floor(s, rate, PERIOD_S) if recorded else (None, None)
    assert _same(plan.forecast_floor, floor) and _same(plan.forecast_rps, forecast_rps)
    expected = {None: None, "forecast": floor, "learned": learned_floor(s, rate, PERIOD_S)}
    assert _same(plan.apply, expected[applied])
    if policy in ("fixed", "reactive") and not recorded:
        assert plan is NO_FLOOR
    if recorded:
        assert plan.forecast_floor[:, -5760:].max() > 0  # the forecast acted on day 3


def test_engine_and_policies_do_not_import_the_training():
    code = (
        "import sys, simkit, simkit.autoscaling, simkit.widgets; "
        "assert 'simkit.training' not in sys.modules, 'simkit.training imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
