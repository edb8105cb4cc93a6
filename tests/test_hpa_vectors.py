"""Kubernetes HPA test vectors (``shared/reference/hpa_vectors.json``) vs the scalar reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from simkit.autoscaling import hpa

VECTORS_PATH = Path(__file__).resolve().parents[2] / "shared" / "reference" / "hpa_vectors.json"
EXPECTED_VECTOR_COUNT = 39
# Vector fields that are not inputs of the stage function.
NON_INPUT_FIELDS = frozenset(
    {"name", "tier", "stage", "source", "note", "per_pod_utilization_percent"}
)
STAGES = (
    "replica_calc",
    "controller_sync",
    "stabilize_legacy",
    "stabilize_behavior",
    "behavior_rate_limit",
    "legacy_clamp",
    "policy_limit",
)

if not VECTORS_PATH.is_file():
    pytest.skip(
        f"HPA test vectors not found at {VECTORS_PATH} (expected a shared/ folder beside the repo)",
        allow_module_level=True,
    )

_DOCUMENT: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
VECTORS: list[dict[str, Any]] = _DOCUMENT["vectors"]


def _inputs(vector: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in vector.items()
        if k not in NON_INPUT_FIELDS and not k.startswith("expected_")
    }


def _expected(vector: dict[str, Any]) -> Any:
    if vector["stage"] == "replica_calc":
        if vector.get("metric", "resource_utilization") == "pods_average_value":
            return vector["expected_replicas"], vector["expected_average_value_milli"]
        return vector["expected_replicas"], vector["expected_utilization_percent"]
    if vector["stage"] == "policy_limit":
        return vector["expected_limit"]
    return vector["expected_replicas"]


def test_vector_count() -> None:
    assert len(VECTORS) == EXPECTED_VECTOR_COUNT
    assert len({v["name"] for v in VECTORS}) == len(VECTORS), "vector names must be unique"


def test_vector_stages_known() -> None:
    assert {v["stage"] for v in VECTORS} <= set(STAGES)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector(vector: dict[str, Any]) -> None:
    stage_function = getattr(hpa, vector["stage"])
    assert stage_function(**_inputs(vector)) == _expected(vector)
